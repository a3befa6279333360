-- Parks entries of one account/region within its bound, each once. KEYS[1]: the account/region's
-- parked lines (hash: payload id -> `LINES:ENTRY`, `#` -> lines parked). ARGV[1]: the bound
-- (lines), ARGV[2]: TTL (seconds), then per entry: payload id, lines, entry.
-- Returns {lines parked now or before, lines refused by the bound}.
local key, bound = KEYS[1], tonumber(ARGV[1])
local held = tonumber(redis.call('HGET', key, '#') or '0')
local parked, refused = 0, 0
for i = 3, #ARGV, 3 do
  local id, lines = ARGV[i], tonumber(ARGV[i + 1])
  if redis.call('HEXISTS', key, id) == 1 then
    parked = parked + lines
  elseif held + lines > bound then
    refused = refused + lines
  else
    redis.call('HSET', key, id, lines .. ':' .. ARGV[i + 2])
    held = held + lines
    parked = parked + lines
  end
end
if held > 0 then
  redis.call('HSET', key, '#', held)
  redis.call('EXPIRE', key, ARGV[2])
end
return {parked, refused}
