-- One account/region's day of one batch, atomically. KEYS and ARGV: see `pair_script` in
-- redis_adapter/write.rs. Returns one flag per payload: 1 counted now, 0 counted before.
local expire_at = ARGV[1]
local seen_ttl = ARGV[2]
local unnamed_ttl = ARGV[3]
local max_sources = tonumber(ARGV[4])
local max_prefixes = tonumber(ARGV[5])
local max_unnamed = tonumber(ARGV[6])
local i = 7
local n_units = tonumber(ARGV[i]); i = i + 1
local fresh_flags = {}
local applied = false
local hlls = {}
local unnamed_added = false
local own_added = false
for u = 1, n_units do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  i = i + 2
  local fresh = redis.call('SADD', KEYS[1], id) == 1
  fresh_flags[u] = fresh and 1 or 0
  if fresh then
    applied = true
    for _ = 1, n do
      local hll = tonumber(ARGV[i])
      local member, count, source, prefix = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
      redis.call('PFADD', KEYS[hll], source)
      hlls[hll] = true
      local target = member
      -- A bare address not yet kept: kept while its endpoint has room, else its prefix, else
      -- `other`. Every record lands in exactly one row, so the scores still add up.
      if prefix ~= '' and not redis.call('ZSCORE', KEYS[3], member) then
        local endpoint = string.sub(member, #source + 2)
        if tonumber(redis.call('HGET', KEYS[4], endpoint) or '0') < max_sources then
          redis.call('HINCRBY', KEYS[4], endpoint, 1)
          if redis.call('SCARD', KEYS[2]) < max_unnamed then
            redis.call('SADD', KEYS[2], source)
            unnamed_added = true
          end
        elseif redis.call('ZSCORE', KEYS[3], prefix) then
          target = prefix
        elseif tonumber(redis.call('HGET', KEYS[4], endpoint .. '\tp') or '0') < max_prefixes then
          redis.call('HINCRBY', KEYS[4], endpoint .. '\tp', 1)
          target = prefix
        else
          target = 'other\t' .. endpoint
        end
      end
      redis.call('ZINCRBY', KEYS[3], count, target)
      -- One of our own `account/region/name` sources: summed by `account/region` too.
      if prefix == '' then
        local own = string.match(source, '^([^/]*/[^/]*)/')
        if own then
          redis.call('HINCRBY', KEYS[5], own, count)
          own_added = true
        end
      end
      i = i + 5
    end
  else
    i = i + 5 * n
  end
end
-- Redelivery bookkeeping lives for the dedup window, counted by the server's own clock.
redis.call('EXPIRE', KEYS[1], seen_ttl)
if applied then
  redis.call('EXPIREAT', KEYS[3], expire_at)
  if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('EXPIREAT', KEYS[4], expire_at) end
  if own_added then redis.call('EXPIREAT', KEYS[5], expire_at) end
  for k, _ in pairs(hlls) do redis.call('EXPIREAT', KEYS[k], expire_at) end
  if unnamed_added then redis.call('EXPIRE', KEYS[2], unnamed_ttl) end
end
return fresh_flags
