-- Scans a group's pending list and claims entries idle long enough (XAUTOCLAIM), reporting each
-- claimed entry's delivery count, which XAUTOCLAIM does not return.
--
-- KEYS[1]  the stream
-- ARGV[1]  consumer group
-- ARGV[2]  consumer that takes the entries
-- ARGV[3]  minimum idle time (ms)
-- ARGV[4]  id to start the scan at
-- ARGV[5]  maximum number of entries to claim
-- Returns  { next cursor, { { id, fields, deliveries }, ... }, { deleted id, ... } }

local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, entry in ipairs(reply[2]) do
  -- Before Redis 7 a deleted entry comes back with nil fields (and no third reply element).
  if entry[2] then
    local row = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)[1]
    out[#out + 1] = { entry[1], entry[2], row[4] }
  end
end
return { reply[1], out, reply[3] or {} }
