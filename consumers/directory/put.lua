-- put.lua: stores one participant in the directory (directory.h), atomically:
-- unless the directory already holds a newer version of them, the hash
-- carrot:{P}:who:<participant> gets the fields, and the participant moves
-- from their old supervisor's reports set to the new one's, and is in the
-- program's set of participants.
--
-- KEYS[1]  carrot:{P}:who:<participant>
-- KEYS[2]  carrot:{P}:people
-- ARGV[1]  the reports set prefix, carrot:{P}:reports: (the old supervisor's
--          set is only known once the hash is read, so it cannot be a KEYS
--          entry; it shares the hash tag {P}, so the same Cluster slot)
-- ARGV[2]  the participant id
-- ARGV[3]  updated_at, ms (exact in a Lua number: below 2^53)
-- ARGV[4]  the new supervisor id, "" for none
-- ARGV[5..] field, value pairs of the hash (updated_at and supervisor_id among them)
-- Returns 1 when stored, 0 when the stored version is newer. An equal
-- updated_at stores again: a replay writes the same, so it is harmless.
local stored = redis.call('HGET', KEYS[1], 'updated_at')
if stored and tonumber(stored) > tonumber(ARGV[3]) then
  return 0
end
local old = redis.call('HGET', KEYS[1], 'supervisor_id')
if old and old ~= '' and old ~= ARGV[4] then
  redis.call('SREM', ARGV[1] .. old, ARGV[2])
end
if ARGV[4] ~= '' then
  redis.call('SADD', ARGV[1] .. ARGV[4], ARGV[2])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('SADD', KEYS[2], ARGV[2])
return 1
