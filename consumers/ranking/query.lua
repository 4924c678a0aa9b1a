-- query.lua: the leaderboard reads, with competition ranks (1, 2, 2, 4).
-- Loaded with SCRIPT LOAD by consumers/ranking/board.c.
--
-- KEYS[1]: a key of the program (routing on Redis Cluster). ARGV[1] mode:
-- 'range' key start stop | 'around' key member k | 'standing' prefix member.
-- Returns flat (board, member, score, rank, size)*.
local mode = ARGV[1]
local out = {}
local function ranked(key, name, start, stop)
  local r = redis.call('ZREVRANGE', key, start, stop, 'WITHSCORES')
  local ranks = {}
  for j = 1, #r, 2 do
    local s = r[j + 1]
    if not ranks[s] then ranks[s] = redis.call('ZCOUNT', key, '(' .. s, '+inf') + 1 end
    out[#out + 1] = name; out[#out + 1] = r[j]; out[#out + 1] = s; out[#out + 1] = ranks[s]
    out[#out + 1] = 0
  end
end
if mode == 'range' then
  ranked(ARGV[2], '', tonumber(ARGV[3]), tonumber(ARGV[4]))
elseif mode == 'around' then
  local r = redis.call('ZREVRANK', ARGV[2], ARGV[3])
  if r then
    local k = tonumber(ARGV[4])
    ranked(ARGV[2], '', math.max(r - k, 0), r + k)
  end
else
  local P, who = ARGV[2], ARGV[3]
  local names = redis.call('SMEMBERS', P .. 'pb:' .. who)
  table.sort(names)
  for _, name in ipairs(names) do
    local key = P .. 'lb:' .. name
    local s = redis.call('ZSCORE', key, who)
    if s then
      out[#out + 1] = name; out[#out + 1] = who; out[#out + 1] = s
      out[#out + 1] = redis.call('ZCOUNT', key, '(' .. s, '+inf') + 1
      out[#out + 1] = redis.call('ZCARD', key)
    else
      redis.call('SREM', P .. 'pb:' .. who, name)  -- the board expired
    end
  end
end
return out
