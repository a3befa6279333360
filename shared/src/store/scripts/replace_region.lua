local i = 3
for m = 1, 3 do
  local map, members = KEYS[m], KEYS[m + 3]
  local old = redis.call('SMEMBERS', members)
  for _, field in ipairs(old) do redis.call('HDEL', map, field) end
  redis.call('DEL', members)
  local n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do
    redis.call('HSET', map, ARGV[i], ARGV[i + 1])
    redis.call('SADD', members, ARGV[i])
    i = i + 2
  end
end
redis.call('HSET', KEYS[7], ARGV[1], ARGV[2])
-- A refresh that succeeds ends the account/region's failure (KEYS[8]), with its new maps.
redis.call('HDEL', KEYS[8], ARGV[1])
return 1
