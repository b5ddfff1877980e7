-- Claims pending entries for a consumer (XCLAIM) and reports each one's delivery count, which
-- XCLAIM does not return. With JUSTID (a heartbeat for entries the consumer still handles) the
-- counts are unchanged and no fields come back. Entries deleted from the stream are dropped from
-- the pending list by XCLAIM itself and are not returned.
--
-- KEYS[1]  the stream
-- ARGV[1]  consumer group
-- ARGV[2]  consumer that takes the entries
-- ARGV[3]  minimum idle time (ms) an entry must have to be claimed
-- ARGV[4]  "1" for JUSTID, "0" otherwise
-- ARGV[5+] the entry ids
-- Returns  { { id, fields or nil, deliveries }, ... }

local justId = ARGV[4] == '1'
-- In slices: Lua's unpack has a stack limit of about 8000 values.
local claimed = {}
for first = 5, #ARGV, 4000 do
  local args = { 'XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3] }
  for i = first, math.min(first + 3999, #ARGV) do
    args[#args + 1] = ARGV[i]
  end
  if justId then
    args[#args + 1] = 'JUSTID'
  end
  for _, item in ipairs(redis.call(unpack(args))) do
    claimed[#claimed + 1] = item
  end
end
local out = {}
for _, item in ipairs(claimed) do
  local id, fields
  if justId then
    id, fields = item, false
  else
    id, fields = item[1], item[2]
  end
  -- Before Redis 7 a deleted entry comes back with nil fields and stays pending; skip it.
  if justId or fields then
    local row = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1]
    out[#out + 1] = { id, fields, row[4] }
  end
end
return out
