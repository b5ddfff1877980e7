-- Removes the consumers of a group that own no pending entry and have been idle long enough
-- (XGROUP DELCONSUMER), except one. Atomic: a consumer that gets an entry meanwhile is kept.
--
-- KEYS[1]  the stream
-- ARGV[1]  consumer group
-- ARGV[2]  minimum idle time (ms)
-- ARGV[3]  the consumer to keep (the caller)
-- Returns  the names removed

local minIdle = tonumber(ARGV[2])
local removed = {}
for _, row in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending, idle
  for i = 1, #row, 2 do
    if row[i] == 'name' then
      name = row[i + 1]
    elseif row[i] == 'pending' then
      pending = row[i + 1]
    elseif row[i] == 'idle' then
      idle = row[i + 1]
    end
  end
  if name ~= ARGV[3] and pending == 0 and idle >= minIdle then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    removed[#removed + 1] = name
  end
end
return removed
