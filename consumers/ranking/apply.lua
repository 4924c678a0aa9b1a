-- apply.lua: the scorer's guarded write of one batch of one partition to the
-- boards, exactly once. Loaded with SCRIPT LOAD and run with EVALSHA by
-- consumers/ranking/board.c (carrot_board_apply), embedded at build
-- time; an error names its line in this file (Redis's "user_script:N").
--
-- KEYS[1]: the partition's watermark key, which routes the call to the
-- program's slot on Redis Cluster (every other key shares its {P} tag).
-- ARGV: key prefix "carrot:{P}:", stream, seen ttl, now, through (the
-- watermark moves at least to it: the batch's last offset of the partition,
-- though it was another program's or a dead letter; -1: no such); then per event:
-- offset, event id, kind (A award, D delete, U undelete), record,
-- participant, type, version, nboards, (board, expire_at)*, nlines,
-- (rule, points)*, cap key ('' none), cap rule, cap points, cap expire_at,
-- ngoals, (key, rule, target, bonus, expire_at)*.
-- Returns per event: fresh, amount, participant, type, version, lines
-- ("rule\30points\30..."). '\31' and '\30' (Lua's decimal escapes: the C
-- side's '\x1f' and '\x1e') separate fields in stored values; the scorer
-- rejects ids that hold them.
local P, stream, ttl, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local through = tonumber(ARGV[5])
local wmk = KEYS[1]
local wm = tonumber(redis.call('GET', wmk) or '-1')
local top, out, i = wm, {}, 6
-- A batch's events mostly share boards: each board's expiry is set, and
-- each (participant, board) added to the standing index, once per batch.
-- String building is the costly part of Lua here, so board keys are made
-- once per batch and the index is a table of tables.
local expiring, indexed, sums, keys = {}, {}, {}, {}
-- adds amt for who to boards: a flat list of name, expire_at, ...
local function apply(amt, boards, who)
  if amt == 0 or who == '' then return end
  local names = {}
  for j = 1, #boards, 2 do
    local name, exp = boards[j], tonumber(boards[j + 1])
    if exp == 0 or exp > now then
      local key = keys[name]
      if not key then key = P .. 'lb:' .. name; keys[name] = key end
      -- summed per (board, participant) and added once at the end: a batch
      -- holds many events of the same people on the same boards
      local b = sums[key]
      if not b then b = {}; sums[key] = b end
      b[who] = (b[who] or 0) + amt
      if exp > 0 and not expiring[key] then expiring[key] = exp end
      local w = indexed[who]
      if not w then w = {}; indexed[who] = w end
      if not w[name] then names[#names + 1] = name; w[name] = true end
    end
  end
  if #names > 0 then redis.call('SADD', P .. 'pb:' .. who, unpack(names)) end
end
-- a record's boards as stored ("name\30exp\30..."), for a DELETE or UNDELETE
local function split(kstr)
  local t = {}
  if kstr then for f in string.gmatch(kstr, '[^\30]+') do t[#t + 1] = f end end
  return t
end
while i <= #ARGV do
  local offs, eid, kind, rec = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local who, typ, ver = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local off = tonumber(offs)
  local nb = tonumber(ARGV[i + 7]); local b0 = i + 8; i = b0 + 2 * nb
  local nl = tonumber(ARGV[i]); local l0 = i + 1; i = l0 + 2 * nl
  local ck, cr, cmax, cexp = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]; i = i + 4
  local ng = tonumber(ARGV[i]); local g0 = i + 1; i = g0 + 5 * ng
  local tag = stream .. ':' .. offs
  local sk = P .. 'seen:' .. eid
  local prev = redis.call('GET', sk)
  if prev then
    local t, amt, pw, pt, pv, pl = string.match(prev, '^(.-)\31(.-)\31(.-)\31(.-)\31(.-)\31(.*)$')
    if t == tag then
      out[#out + 1] = 1; out[#out + 1] = amt; out[#out + 1] = pw; out[#out + 1] = pt
      out[#out + 1] = pv; out[#out + 1] = pl
    else
      out[#out + 1] = 0; out[#out + 1] = '0'; out[#out + 1] = ''; out[#out + 1] = ''
      out[#out + 1] = ''; out[#out + 1] = ''
    end
  elseif off <= wm then  -- applied once, and its dedup entry has expired
    out[#out + 1] = 0; out[#out + 1] = '0'; out[#out + 1] = ''; out[#out + 1] = ''
    out[#out + 1] = ''; out[#out + 1] = ''
  elseif kind == 'A' and nl == 0 and ng == 0 then  -- earns nothing: nothing to keep
    out[#out + 1] = 1; out[#out + 1] = '0'; out[#out + 1] = who; out[#out + 1] = typ
    out[#out + 1] = ver; out[#out + 1] = ''
  else
    local rk = P .. 'rec:' .. rec
    local amt, lines = 0, {}
    if kind == 'A' then
      local sum = 0
      for j = 0, nl - 1 do
        lines[#lines + 1] = ARGV[l0 + 2 * j]; lines[#lines + 1] = ARGV[l0 + 2 * j + 1]
        sum = sum + tonumber(ARGV[l0 + 2 * j + 1])
      end
      if ck ~= '' and sum > 0 then  -- the KPI's cap this period
        local used = tonumber(redis.call('GET', P .. ck) or '0')
        local allowed = math.min(sum, math.max(cmax - used, 0))
        redis.call('SET', P .. ck, used + allowed)
        redis.call('EXPIREAT', P .. ck, cexp)
        if allowed < sum then
          lines[#lines + 1] = 'cap.' .. cr; lines[#lines + 1] = tostring(allowed - sum)
          sum = allowed
        end
      end
      for j = 0, ng - 1 do  -- goals: one bonus when the count reaches the target
        local g = g0 + 5 * j
        local c = redis.call('INCR', P .. ARGV[g])
        redis.call('EXPIREAT', P .. ARGV[g], ARGV[g + 4])
        if c == tonumber(ARGV[g + 2]) and tonumber(ARGV[g + 3]) ~= 0 then
          lines[#lines + 1] = ARGV[g + 1]; lines[#lines + 1] = ARGV[g + 3]
          sum = sum + tonumber(ARGV[g + 3])
        end
      end
      local r = redis.call('HMGET', rk, 'on', 'k')
      local boards
      local set = {'p', who, 't', typ}
      if r[2] then  -- a record's boards are its first CREATE's
        boards = split(r[2])
      else
        boards = {unpack(ARGV, b0, b0 + 2 * nb - 1)}
        set[#set + 1] = 'k'; set[#set + 1] = table.concat(boards, '\30')
      end
      if r[1] ~= '0' then
        amt = sum
        set[#set + 1] = 'on'; set[#set + 1] = '1'
      else  -- deleted before it was scored: kept for an UNDELETE, awards nothing
        lines = {}
      end
      redis.call('HINCRBY', rk, 'n', sum)
      redis.call('HSET', rk, unpack(set))
      apply(amt, boards, who)
    else
      local r = redis.call('HMGET', rk, 'p', 'n', 't', 'on', 'k')
      who, typ = r[1] or '', r[3] or ''
      if kind == 'D' then
        if r[4] ~= '0' and r[2] then amt = -tonumber(r[2]) end
        redis.call('HSET', rk, 'on', '0')  -- a DELETE first leaves a tombstone
        if amt ~= 0 then lines = {'reversal', tostring(amt)} end
      else
        if r[4] == '0' and r[2] then amt = tonumber(r[2]) end
        redis.call('HSET', rk, 'on', '1')
        if amt ~= 0 then lines = {'restore', tostring(amt)} end
      end
      apply(amt, split(r[5]), who)
    end
    local l = table.concat(lines, '\30')
    redis.call('SET', sk, table.concat({tag, tostring(amt), who, typ, ver, l}, '\31'), 'EX', ttl)
    out[#out + 1] = 1; out[#out + 1] = tostring(amt); out[#out + 1] = who; out[#out + 1] = typ
    out[#out + 1] = ver; out[#out + 1] = l
  end
  if off > top then top = off end
end
for key, b in pairs(sums) do
  for who, amt in pairs(b) do
    if amt ~= 0 then redis.call('ZINCRBY', key, amt, who) end
  end
  if expiring[key] then redis.call('EXPIREAT', key, expiring[key]) end
end
if through > top then top = through end
if top > wm then redis.call('SET', wmk, string.format('%d', top)) end
return out
