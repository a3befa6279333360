-- Removes parked entries of one account/region, their lines off its count. KEYS[1]: its parked
-- lines (see park.lua); ARGV: payload ids. Returns 1 when none are left (the key is gone).
local key = KEYS[1]
local held = tonumber(redis.call('HGET', key, '#') or '0')
for _, id in ipairs(ARGV) do
  local entry = redis.call('HGET', key, id)
  if entry then
    held = held - (tonumber(string.match(entry, '^(%d+):')) or 0)
    redis.call('HDEL', key, id)
  end
end
if redis.call('HLEN', key) - redis.call('HEXISTS', key, '#') == 0 then
  redis.call('DEL', key)
  return 1
end
redis.call('HSET', key, '#', math.max(held, 0))
return 0
