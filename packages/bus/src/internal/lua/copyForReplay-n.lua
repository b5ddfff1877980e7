-- Copies a replay batch inside the server (`RedisStream.copyForReplay`): the envelopes never
-- travel to the client and back. Reads up to `count` entries of the source stream and appends
-- each one whose `type` routes it somewhere (and whose `tenant` matches) to its target streams,
-- its envelope byte for byte and the job in the entry's `replay` field (the reader derives the
-- marker from it: building a marked copy of each envelope here cost a quarter of the script's
-- time), then records the progress, all in one atomic step. It stops before an entry it cannot
-- decide or copy as bytes, for the caller to handle.
--
-- KEYS[1]  the source stream; KEYS[2] the progress hash; KEYS[3..] the target streams.
-- ARGV     start end count jobId hasTenant tenant progressField scanned matched
--          firstAtMost ("" for no check)
--          then pairs: type mask (mask: one character per target, "1" = copy to that target)
-- Returns  { passed, cursor ("" when none), exhausted (1/0), stopKind ("", "type", "entry",
--            "trimmed"), stopValue (the unknown type, the entry id, or the stream's first entry
--            id ("" when empty) when trimmed), eventId, type, tenant, ... per copy }

for i = 2, #KEYS do
  local want = i == 2 and 'hash' or 'stream'
  local actual = redis.call('TYPE', KEYS[i]).ok
  if actual ~= 'none' and actual ~= want then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' holds a ' .. actual .. ', not a ' .. want)
  end
end
local sourceType = redis.call('TYPE', KEYS[1]).ok
if sourceType ~= 'none' and sourceType ~= 'stream' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. sourceType .. ', not a stream')
end

local count = tonumber(ARGV[3])
local jobId = ARGV[4]
local hasTenant, tenant = ARGV[5] == '1', ARGV[6]
local routes = {}
for i = 11, #ARGV, 2 do
  routes[ARGV[i]] = ARGV[i + 1]
end
local targets = #KEYS - 2

-- Trimmed past the caller's position since it looked: entries from `start` on may be gone, so
-- nothing is copied (the caller reads the gap elsewhere). Trimming removes a prefix: a first
-- entry at or before `firstAtMost` means nothing after it went.
if ARGV[10] ~= '' and #redis.call('XRANGE', KEYS[1], '-', ARGV[10], 'COUNT', 1) == 0 then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  return { 0, '', 0, 'trimmed', first and first[1] or '' }
end

local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', count)
local passed, cursor, stopKind, stopValue = 0, '', '', ''
local copied = {}
for _, entry in ipairs(entries) do
  local fields = entry[2]
  local kind, owner, event
  for j = 1, #fields, 2 do
    local name = fields[j]
    if name == 'type' then
      kind = fields[j + 1]
    elseif name == 'tenant' then
      owner = fields[j + 1]
    elseif name == 'event' then
      event = fields[j + 1]
    end
  end
  if kind == nil or owner == nil then
    stopKind, stopValue = 'entry', entry[1]
    break
  end
  local mask = routes[kind]
  if mask == nil then
    stopKind, stopValue = 'type', kind
    break
  end
  if string.find(mask, '1', 1, true) and (not hasTenant or owner == tenant) then
    -- The bytes are kept when the envelope starts with its id (what the bus writes) and has no
    -- marker yet (an old marker would contradict the `replay` field); anything else is parsed
    -- by the caller.
    local id = event and string.match(event, '^{"id":"([^"\\]+)"')
    if id == nil or string.byte(event, -1) ~= 125 or string.find(event, '"replay"', 1, true) then
      stopKind, stopValue = 'entry', entry[1]
      break
    end
    for t = 1, targets do
      if string.byte(mask, t) == 49 then
        redis.call('XADD', KEYS[t + 2], '*', 'event', event, 'type', kind, 'tenant', owner, 'replay', jobId)
      end
    end
    copied[#copied + 1] = id
    copied[#copied + 1] = kind
    copied[#copied + 1] = owner
  end
  passed = passed + 1
  cursor = entry[1]
end

if passed > 0 then
  redis.call('HSET', KEYS[2], ARGV[7], string.format('{"cursor":"%s","scanned":%d,"matched":%d}',
    cursor, tonumber(ARGV[8]) + passed, tonumber(ARGV[9]) + #copied / 3))
end
local exhausted = (stopKind == '' and #entries < count) and 1 or 0
local reply = { passed, cursor, exhausted, stopKind, stopValue }
for i = 1, #copied do
  reply[#reply + 1] = copied[i]
end
return reply
