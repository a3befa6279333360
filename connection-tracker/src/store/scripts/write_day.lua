local expire_at = ARGV[1]
local seen_ttl = ARGV[2]
local unnamed_ttl = ARGV[3]
local i = 4
local n_units = tonumber(ARGV[i]); i = i + 1
local applied, duplicates = 0, 0
local touched = {}
for _ = 1, n_units do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  i = i + 2
  local fresh = redis.call('SADD', KEYS[1], id) == 1
  if fresh then applied = applied + 1 else duplicates = duplicates + 1 end
  for _ = 1, n do
    if fresh then
      local k = tonumber(ARGV[i])
      redis.call('ZINCRBY', KEYS[k], ARGV[i + 2], ARGV[i + 1])
      touched[k] = true
    end
    i = i + 3
  end
end
-- Redelivery bookkeeping lives for the dedup window, counted by the server's own clock.
redis.call('EXPIRE', KEYS[1], seen_ttl)
if applied > 0 then
  for k, _ in pairs(touched) do
    redis.call('EXPIREAT', KEYS[k], expire_at)
    redis.call('SADD', KEYS[2], string.match(KEYS[k], ':conn:(.*)$'))
  end
  redis.call('EXPIREAT', KEYS[2], expire_at)
  local n_unnamed = tonumber(ARGV[i]); i = i + 1
  for j = i, i + n_unnamed - 1 do
    redis.call('SADD', KEYS[3], ARGV[j])
  end
  if n_unnamed > 0 then redis.call('EXPIRE', KEYS[3], unnamed_ttl) end
end
return {applied, duplicates}
