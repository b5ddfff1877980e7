-- Reads new entries for a consumer group (XREADGROUP ... >, not blocking) and joins one field of
-- each into a single JSON array text, so the caller receives one string instead of one object per
-- entry (the archiver hands it to PostgreSQL as it is). The field's value is spliced in as it is
-- stored: it must be a JSON text, which the caller's parser checks.
--
-- KEYS[1]  the stream
-- ARGV[1]  consumer group
-- ARGV[2]  consumer
-- ARGV[3]  maximum number of entries
-- ARGV[4]  the field to join
-- Returns  { { id, ... }, { id of an entry without the field, ... }, '[{"i":"<id>","e":<field>},...]' }

local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
local ids, missing, parts = {}, {}, {}
local entries = reply and reply[1] and reply[1][2] or {}
for _, entry in ipairs(entries) do
  local id, fields = entry[1], entry[2]
  ids[#ids + 1] = id
  local value
  for f = 1, #fields, 2 do
    if fields[f] == ARGV[4] then
      value = fields[f + 1]
      break
    end
  end
  if value then
    parts[#parts + 1] = '{"i":"' .. id .. '","e":' .. value .. '}'
  else
    missing[#missing + 1] = id
  end
end
return { ids, missing, '[' .. table.concat(parts, ',') .. ']' }
