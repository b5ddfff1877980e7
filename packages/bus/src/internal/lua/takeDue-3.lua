-- Takes the due members of a retry schedule and claims each one, as an entry of a stream, to a
-- consumer. Atomic, so every due member is taken by exactly one caller. Claiming (XCLAIM with a
-- minimum idle time of 0) increments the entry's delivery count; members whose entry is no longer
-- pending in the group (acknowledged, or deleted from the stream) are removed and not returned.
-- Each taken entry comes back with its field in the records hash (what the caller stored with the
-- retry), and the reply ends with the lowest score left, so the caller can sleep until then.
--
-- KEYS[1]  the schedule: a sorted set of entry ids scored by due time (ms)
-- KEYS[2]  the stream the entries belong to
-- KEYS[3]  the records: a hash with a field per scheduled entry id
-- ARGV[1]  consumer group
-- ARGV[2]  consumer that takes the entries
-- ARGV[3]  now (ms): members scored at or below it are due
-- ARGV[4]  maximum number of members to take
-- Returns  { { { id, fields, deliveries, record or false }, ... }, next score or false }

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, ARGV[4])
-- Everything that could fail is checked before the first write, so a failing call changes nothing:
-- a member that is no entry id would make its XCLAIM fail halfway through the loop, and the first
-- XCLAIM below fails on a missing group or a wrong key type before anything else was written.
for _, id in ipairs(due) do
  if not (string.match(id, '^%d+$') or string.match(id, '^%d+%-%d+$')) then
    return redis.error_reply('ERR Invalid stream ID specified as stream command argument: ' .. id)
  end
end
local taken = {}
for _, id in ipairs(due) do
  local claimed = redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, id)
  local entry = claimed[1]
  if entry and entry[2] then
    local row = redis.call('XPENDING', KEYS[2], ARGV[1], id, id, 1)[1]
    taken[#taken + 1] = { entry[1], entry[2], row[4], redis.call('HGET', KEYS[3], id) }
  end
end
-- In slices: Lua's unpack has a stack limit of about 8000 values.
for i = 1, #due, 4000 do
  redis.call('ZREM', KEYS[1], unpack(due, i, math.min(i + 3999, #due)))
end
local nextDue = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or false
return { taken, nextDue }
