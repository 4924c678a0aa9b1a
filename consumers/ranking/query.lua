-- query.lua: the leaderboard reads, with competition ranks (1, 2, 2, 4).
-- Loaded with SCRIPT LOAD by consumers/ranking/board.c.
--
-- KEYS[1]: a key of the program (routing on Redis Cluster). ARGV[1] mode:
-- 'range' key start stop | 'around' key member k | 'standing' prefix member
-- | 'rollup' key stamp gen ttl day-key... (rollup.c).
-- Returns flat (board, member, score, rank, size)*; 'rollup' nothing.
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
if mode == 'rollup' then
  -- a week's, month's or quarter's board: the sum of its day boards, built
  -- again only when a board was written since (the stamp is the gen it saw)
  local key, stamp, ttl = ARGV[2], ARGV[3], ARGV[5]
  local gen = redis.call('GET', ARGV[4]) or '0'
  if redis.call('GET', stamp) ~= gen then
    local days = {}
    for i = 6, #ARGV do days[#days + 1] = ARGV[i] end
    redis.call('ZUNIONSTORE', key, #days, unpack(days))
    redis.call('EXPIRE', key, ttl)
    redis.call('SET', stamp, gen, 'EX', ttl)
  end
elseif mode == 'range' then
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
