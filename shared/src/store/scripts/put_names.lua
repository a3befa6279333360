-- Caches reverse-DNS answers and keeps the list of resolved names `/addresses` shows.
-- KEYS[1]: hash address → name (names only), KEYS[2]: sorted set address → expiry (Unix
-- seconds), KEYS[3..]: each answer's cache key. ARGV: per answer address, name ("" = none),
-- TTL in seconds. Expired entries of the list are pruned here, by Redis's clock.
local now = tonumber(redis.call('TIME')[1])
for i = 3, #KEYS do
  local a = (i - 3) * 3
  local ip, name, ttl = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  redis.call('SET', KEYS[i], name, 'EX', ttl)
  if name == '' then
    redis.call('HDEL', KEYS[1], ip)
    redis.call('ZREM', KEYS[2], ip)
  else
    redis.call('HSET', KEYS[1], ip, name)
    redis.call('ZADD', KEYS[2], now + ttl, ip)
  end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 10000)
for _, ip in ipairs(expired) do
  redis.call('HDEL', KEYS[1], ip)
  redis.call('ZREM', KEYS[2], ip)
end
return #expired
