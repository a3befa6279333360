-- One day of one batch, atomically. KEYS and ARGV: see `day_script` in redis_adapter/write.rs.
local expire_at = ARGV[1]
local seen_ttl = ARGV[2]
local unnamed_ttl = ARGV[3]
local max_sources = tonumber(ARGV[4])
local max_prefixes = tonumber(ARGV[5])
local max_unnamed = tonumber(ARGV[6])
local i = 7
local n_units = tonumber(ARGV[i]); i = i + 1
local applied, duplicates = 0, 0
local touched, touched_more = {}, {}
local unnamed_added = false
for _ = 1, n_units do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  i = i + 2
  local fresh = redis.call('SADD', KEYS[1], id) == 1
  if fresh then applied = applied + 1 else duplicates = duplicates + 1 end
  for _ = 1, n do
    if fresh then
      local k, kept, hll = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
      local member, count, source, prefix = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
      redis.call('PFADD', KEYS[hll], source)
      touched_more[hll] = true
      local target = member
      -- A bare address not yet kept: kept while its endpoint has room, else its prefix, else
      -- `other`. Every record lands in exactly one row, so the scores still add up.
      if prefix ~= '' and not redis.call('ZSCORE', KEYS[k], member) then
        local endpoint = string.sub(member, #source + 2)
        if tonumber(redis.call('HGET', KEYS[kept], endpoint) or '0') < max_sources then
          redis.call('HINCRBY', KEYS[kept], endpoint, 1)
          if redis.call('SCARD', KEYS[3]) < max_unnamed then
            redis.call('SADD', KEYS[3], source)
            unnamed_added = true
          end
        elseif redis.call('ZSCORE', KEYS[k], prefix) then
          target = prefix
        elseif tonumber(redis.call('HGET', KEYS[kept], endpoint .. '\tp') or '0') < max_prefixes then
          redis.call('HINCRBY', KEYS[kept], endpoint .. '\tp', 1)
          target = prefix
        else
          target = 'other\t' .. endpoint
        end
        touched_more[kept] = true
      end
      redis.call('ZINCRBY', KEYS[k], count, target)
      touched[k] = true
    end
    i = i + 7
  end
end
-- Redelivery bookkeeping lives for the dedup window, counted by the server's own clock.
redis.call('EXPIRE', KEYS[1], seen_ttl)
if applied > 0 then
  for k, _ in pairs(touched) do
    redis.call('EXPIREAT', KEYS[k], expire_at)
    redis.call('SADD', KEYS[2], string.match(KEYS[k], ':conn:(.*)$'))
  end
  for k, _ in pairs(touched_more) do redis.call('EXPIREAT', KEYS[k], expire_at) end
  redis.call('EXPIREAT', KEYS[2], expire_at)
  if unnamed_added then redis.call('EXPIRE', KEYS[3], unnamed_ttl) end
end
return {applied, duplicates}
