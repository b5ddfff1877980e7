-- Applies a batch of stream, sorted-set and hash writes all or nothing. MULTI/EXEC would still apply
-- the other commands when one fails at run time (WRONGTYPE), so this script checks the type of
-- every key before the first write; the caller has already validated the arguments (ids,
-- scores, counts, non-empty field lists). Both checks together leave no run-time error for the
-- writes, and the script runs atomically, so no other client can change a key in between. What
-- remains is the server itself: over `maxmemory` it refuses the script's first write (so again
-- nothing is applied), and it replicates and persists the script's writes as one MULTI block.
--
-- KEYS[i]  every key the commands touch, each listed once; commands refer to a key by its index.
-- ARGV     the commands, one after another (`approx` is "1" for `~` trimming, "0" for exact):
--            XADD key# minId maxLen approx nFields field value ...   (minId / maxLen "" when unused)
--            XADDC key# minId maxLen approx nFields field value ... srcKey# srcId nCopy field ...
--                 (an XADD whose listed fields take their values, as bytes, from entry srcId of
--                 stream srcKey when that entry has them)
--            XACK key# group nIds id ...
--            XDEL key# nIds id ...
--            ZADD key# score member
--            ZADDN key# score nMembers member ...                      (every member with one score)
--            ZREM key# nMembers member ...
--            ZREMRANGEBYSCORE key# max                              (members scored at or below max)
--            HSET key# field value
--            HDEL key# nFields field ...
--            SET  key# value ttlMs                                  (SET key value PX ttlMs)
-- Returns  one reply per command: the new entry id for XADD, a count otherwise.

-- Lua's unpack has a stack limit (about 8000 values); commands with long id lists run in slices.
local SLICE = 4000

local function sliced(command, key, prefix, first, count)
  local total = 0
  local i = first
  local last = first + count - 1
  while i <= last do
    local j = math.min(i + SLICE - 1, last)
    if prefix then
      total = total + redis.call(command, key, prefix, unpack(ARGV, i, j))
    else
      total = total + redis.call(command, key, unpack(ARGV, i, j))
    end
    i = j + 1
  end
  return total
end

-- Pass 1: find each command's extent and the type each key must have.
local ops = {}
local wanted = {}
local i = 1
while i <= #ARGV do
  local op = ARGV[i]
  local k = tonumber(ARGV[i + 1])
  local kind
  local nextAt
  if op == 'XADD' then
    kind, nextAt = 'stream', i + 6 + 2 * tonumber(ARGV[i + 5])
  elseif op == 'XADDC' then
    kind = 'stream'
    local at = i + 6 + 2 * tonumber(ARGV[i + 5])
    local source = tonumber(ARGV[at])
    if wanted[source] and wanted[source] ~= 'stream' then
      return redis.error_reply('ERR ' .. KEYS[source] .. ' is used both as a ' .. wanted[source] .. ' and as a stream')
    end
    wanted[source] = 'stream'
    nextAt = at + 3 + tonumber(ARGV[at + 2])
  elseif op == 'XACK' then
    kind, nextAt = 'stream', i + 4 + tonumber(ARGV[i + 3])
  elseif op == 'XDEL' then
    kind, nextAt = 'stream', i + 3 + tonumber(ARGV[i + 2])
  elseif op == 'ZADD' then
    kind, nextAt = 'zset', i + 4
  elseif op == 'ZADDN' then
    kind, nextAt = 'zset', i + 4 + tonumber(ARGV[i + 3])
  elseif op == 'ZREM' then
    kind, nextAt = 'zset', i + 3 + tonumber(ARGV[i + 2])
  elseif op == 'ZREMRANGEBYSCORE' then
    kind, nextAt = 'zset', i + 3
  elseif op == 'HSET' then
    kind, nextAt = 'hash', i + 4
  elseif op == 'HDEL' then
    kind, nextAt = 'hash', i + 3 + tonumber(ARGV[i + 2])
  elseif op == 'SET' then
    kind, nextAt = 'string', i + 4
  else
    return redis.error_reply('ERR unknown transaction command ' .. tostring(op))
  end
  if wanted[k] and wanted[k] ~= kind then
    return redis.error_reply('ERR ' .. KEYS[k] .. ' is used both as a ' .. wanted[k] .. ' and as a ' .. kind)
  end
  wanted[k] = kind
  ops[#ops + 1] = i
  i = nextAt
end

for k, kind in pairs(wanted) do
  local actual = redis.call('TYPE', KEYS[k]).ok
  if actual ~= 'none' and actual ~= kind then
    return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' holds a ' .. actual .. ', not a ' .. kind)
  end
end

-- Pass 2: apply.
local replies = {}
for n, at in ipairs(ops) do
  local op = ARGV[at]
  local key = KEYS[tonumber(ARGV[at + 1])]
  if op == 'XADD' or op == 'XADDC' then
    local minId, maxLen = ARGV[at + 2], ARGV[at + 3]
    local mark = ARGV[at + 4] == '1' and '~' or '='
    local args = { 'XADD', key }
    if minId ~= '' then
      args[3], args[4], args[5] = 'MINID', mark, minId
    elseif maxLen ~= '' then
      args[3], args[4], args[5] = 'MAXLEN', mark, maxLen
    end
    args[#args + 1] = '*'
    local last = at + 5 + 2 * tonumber(ARGV[at + 5])
    -- The copied fields' values, read from the source entry (Lua strings are bytes).
    local copied = {}
    if op == 'XADDC' then
      local entry = redis.call('XRANGE', KEYS[tonumber(ARGV[last + 1])], ARGV[last + 2], ARGV[last + 2])[1]
      if entry then
        local wantedFields = {}
        for j = last + 4, last + 3 + tonumber(ARGV[last + 3]) do
          wantedFields[ARGV[j]] = true
        end
        local fields = entry[2]
        for j = 1, #fields, 2 do
          if wantedFields[fields[j]] and copied[fields[j]] == nil then copied[fields[j]] = fields[j + 1] end
        end
      end
    end
    for j = at + 6, last, 2 do
      args[#args + 1] = ARGV[j]
      args[#args + 1] = copied[ARGV[j]] or ARGV[j + 1]
    end
    replies[n] = redis.call(unpack(args))
    -- XADD takes one trimming strategy; the second one runs as an XTRIM.
    if minId ~= '' and maxLen ~= '' then
      redis.call('XTRIM', key, 'MAXLEN', mark, maxLen)
    end
  elseif op == 'XACK' then
    replies[n] = sliced('XACK', key, ARGV[at + 2], at + 4, tonumber(ARGV[at + 3]))
  elseif op == 'XDEL' then
    replies[n] = sliced('XDEL', key, nil, at + 3, tonumber(ARGV[at + 2]))
  elseif op == 'ZADD' then
    replies[n] = redis.call('ZADD', key, ARGV[at + 2], ARGV[at + 3])
  elseif op == 'ZADDN' then
    -- ZADD takes score-member pairs: interleave the shared score, a slice at a time.
    local score, first, count = ARGV[at + 2], at + 4, tonumber(ARGV[at + 3])
    local total = 0
    local j = first
    while j < first + count do
      local args = { 'ZADD', key }
      for m = j, math.min(j + SLICE / 2 - 1, first + count - 1) do
        args[#args + 1] = score
        args[#args + 1] = ARGV[m]
      end
      total = total + redis.call(unpack(args))
      j = j + SLICE / 2
    end
    replies[n] = total
  elseif op == 'ZREM' then
    replies[n] = sliced('ZREM', key, nil, at + 3, tonumber(ARGV[at + 2]))
  elseif op == 'ZREMRANGEBYSCORE' then
    replies[n] = redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[at + 2])
  elseif op == 'HSET' then
    replies[n] = redis.call('HSET', key, ARGV[at + 2], ARGV[at + 3])
  elseif op == 'HDEL' then
    replies[n] = sliced('HDEL', key, nil, at + 3, tonumber(ARGV[at + 2]))
  else
    redis.call('SET', key, ARGV[at + 2], 'PX', ARGV[at + 3])
    replies[n] = 1
  end
end
return replies
