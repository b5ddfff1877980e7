-- Appends a batch of entries to one stream from texts with one line per entry, and sets one hash
-- field, in one atomic step: the caller sends a few long arguments instead of several per entry
-- (a replay from the archive: the envelopes PostgreSQL wrote, joined by "\n", which JSON text
-- never contains unescaped).
--
-- KEYS[1]  the stream
-- KEYS[2]  the hash
-- ARGV[1]  hash field ("" for none)
-- ARGV[2]  its value
-- ARGV[3]  number of entries
-- ARGV[4]  number of per-line fields L, then L pairs (name, text of exactly that many lines)
-- then     pairs (name, value) set on every entry
-- Returns  the number of entries appended

local count = tonumber(ARGV[3])
local perLine = tonumber(ARGV[4])
-- Every text split first: one with another line count fails the call before any write.
local names, columns = {}, {}
for f = 1, perLine do
  local name, text = ARGV[3 + 2 * f], ARGV[4 + 2 * f]
  local column, at = {}, 1
  while true do
    local stop = string.find(text, '\n', at, true)
    if not stop then
      column[#column + 1] = string.sub(text, at)
      break
    end
    column[#column + 1] = string.sub(text, at, stop - 1)
    at = stop + 1
  end
  if #column ~= count then
    return redis.error_reply('ERR field ' .. name .. ' has ' .. #column .. ' lines for ' .. count .. ' entries')
  end
  names[f], columns[f] = name, column
end
local constant = {}
for a = 5 + 2 * perLine, #ARGV, 2 do
  constant[#constant + 1] = ARGV[a]
  constant[#constant + 1] = ARGV[a + 1]
end
-- Checked before the first write, so a wrong key type changes nothing.
local function wrong(key, want)
  local t = redis.call('TYPE', key)['ok']
  return t ~= 'none' and t ~= want
end
if wrong(KEYS[1], 'stream') or (ARGV[1] ~= '' and wrong(KEYS[2], 'hash')) then
  return redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of value')
end
for i = 1, count do
  local args = { KEYS[1], '*' }
  for f = 1, perLine do
    args[#args + 1] = names[f]
    args[#args + 1] = columns[f][i]
  end
  for c = 1, #constant do
    args[#args + 1] = constant[c]
  end
  redis.call('XADD', unpack(args))
end
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
return count
