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
local hll_sources = {}
local unnamed_added = false
local own_added = false
-- Per-endpoint counts of kept addresses and prefixes (KEYS[4]): read once, counted here,
-- written back once at the end.
local counts, dirty = {}, {}
local function count_of(field)
  local v = counts[field]
  if v == nil then
    v = tonumber(redis.call('HGET', KEYS[4], field) or '0')
    counts[field] = v
  end
  return v
end
local function take(field)
  counts[field] = count_of(field) + 1
  dirty[field] = true
end
local unnamed_n = nil
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
      local sources = hll_sources[hll]
      if not sources then
        sources = {}
        hll_sources[hll] = sources
      end
      sources[#sources + 1] = source
      if prefix ~= '' then
        -- A bare address: counted on its row when kept already (one call); else kept while
        -- its endpoint has room, else its prefix, else `other`. Every record lands in
        -- exactly one row, so the scores still add up.
        if not redis.call('ZADD', KEYS[3], 'XX', 'INCR', count, member) then
          local endpoint = string.sub(member, #source + 2)
          if count_of(endpoint) < max_sources then
            take(endpoint)
            redis.call('ZINCRBY', KEYS[3], count, member)
            if unnamed_n == nil then unnamed_n = redis.call('SCARD', KEYS[2]) end
            if unnamed_n < max_unnamed then
              unnamed_n = unnamed_n + redis.call('SADD', KEYS[2], source)
              unnamed_added = true
            end
          elseif not redis.call('ZADD', KEYS[3], 'XX', 'INCR', count, prefix) then
            local prefixes = endpoint .. '\tp'
            if count_of(prefixes) < max_prefixes then
              take(prefixes)
              redis.call('ZINCRBY', KEYS[3], count, prefix)
            else
              redis.call('ZINCRBY', KEYS[3], count, 'other\t' .. endpoint)
            end
          end
        end
      else
        redis.call('ZINCRBY', KEYS[3], count, member)
        -- One of our own `account/region/name` sources: summed by `account/region` too.
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
-- Distinct sources per endpoint: one PFADD per endpoint (in slices: Lua's stack is bounded).
for hll, sources in pairs(hll_sources) do
  for from = 1, #sources, 4000 do
    redis.call('PFADD', KEYS[hll], unpack(sources, from, math.min(from + 3999, #sources)))
  end
end
if next(dirty) then
  local pairs_out = {}
  for field, _ in pairs(dirty) do
    pairs_out[#pairs_out + 1] = field
    pairs_out[#pairs_out + 1] = counts[field]
  end
  for from = 1, #pairs_out, 4000 do
    redis.call('HSET', KEYS[4], unpack(pairs_out, from, math.min(from + 3999, #pairs_out)))
  end
end
-- Redelivery bookkeeping lives for the dedup window, counted by the server's own clock.
redis.call('EXPIRE', KEYS[1], seen_ttl)
if applied then
  redis.call('EXPIREAT', KEYS[3], expire_at)
  if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('EXPIREAT', KEYS[4], expire_at) end
  if own_added then redis.call('EXPIREAT', KEYS[5], expire_at) end
  for k, _ in pairs(hll_sources) do redis.call('EXPIREAT', KEYS[k], expire_at) end
  if unnamed_added then redis.call('EXPIRE', KEYS[2], unnamed_ttl) end
end
return fresh_flags
