-- Reads the entries pending on one consumer, oldest first, without changing them. XREADGROUP with
-- an id would do the same read but also bump each entry's delivery count and reset its idle time.
-- Entries deleted from the stream (still listed as pending) are skipped; the scan then continues
-- past them, for at most 10 pending-list pages per call.
--
-- KEYS[1]  the stream
-- ARGV[1]  consumer group
-- ARGV[2]  consumer
-- ARGV[3]  where to start: "-" or "(" .. id for "after id"
-- ARGV[4]  maximum number of entries to return
-- Returns  { { id, fields }, ... }

local want = tonumber(ARGV[4])
local start = ARGV[3]
local out = {}
for _ = 1, 10 do
  local asked = want - #out
  local rows = redis.call('XPENDING', KEYS[1], ARGV[1], start, '+', asked, ARGV[2])
  for _, row in ipairs(rows) do
    local entry = redis.call('XRANGE', KEYS[1], row[1], row[1])[1]
    if entry then
      out[#out + 1] = entry
    end
    start = '(' .. row[1]
  end
  if #rows < asked or #out >= want then
    break
  end
end
return out
