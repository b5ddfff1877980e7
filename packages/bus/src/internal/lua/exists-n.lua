-- Tells which keys exist, one answer per key. EXISTS with several keys only counts them, and
-- MGET would answer nil for a key that exists but holds no string.
--
-- KEYS     the keys
-- Returns  { 1 or 0, ... } in the order of KEYS.

local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('EXISTS', key)
end
return out
