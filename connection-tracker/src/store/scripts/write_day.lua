-- One account/region's day of one batch, atomically. KEYS and ARGV: see `pair_script` in
-- redis_adapter/write.rs. Returns one flag per payload: 1 counted now, 0 counted before.
--
-- The batch is decided in Lua and written in bulk: the current scores of every member and
-- prefix the rows can touch are read by ZMSCORE (one call per 4,000), each row is decided on
-- that table (kept, folded into its prefix, or `other`, exactly as row-by-row calls would),
-- and the new scores are written by ZADD (one call per 2,000 members). Calls per batch grow
-- with its size / 2,000, not with its rows.
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

-- 1. Which payloads are new (SADD to the seen set); the rows of the new ones.
local rows = {}
for u = 1, n_units do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  i = i + 2
  local fresh = redis.call('SADD', KEYS[1], id) == 1
  fresh_flags[u] = fresh and 1 or 0
  if fresh then
    applied = true
    for r = 0, n - 1 do rows[#rows + 1] = i + 5 * r end
  end
  i = i + 5 * n
end

-- 2. Current scores of the members and prefixes the rows name (false: absent).
local cur = {}
local ask = {}
for _, at in ipairs(rows) do
  local member, prefix = ARGV[at + 1], ARGV[at + 4]
  if cur[member] == nil then cur[member] = false; ask[#ask + 1] = member end
  if prefix ~= '' and cur[prefix] == nil then cur[prefix] = false; ask[#ask + 1] = prefix end
end
for from = 1, #ask, 4000 do
  local to = math.min(from + 3999, #ask)
  local got = redis.call('ZMSCORE', KEYS[3], unpack(ask, from, to))
  for k = from, to do
    local v = got[k - from + 1]
    if v then cur[ask[k]] = tonumber(v) end
  end
end
local touched, touched_list = {}, {}
local function incr(m, c)
  local v = cur[m]
  if v == nil then v = tonumber(redis.call('ZSCORE', KEYS[3], m)) end
  cur[m] = (v or 0) + c
  if not touched[m] then
    touched[m] = true
    touched_list[#touched_list + 1] = m
  end
end

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

-- 3. Each row, in order.
local hll_sources = {}
local unnamed_new, unnamed_seen = {}, {}
local own_sums, own_list = {}, {}
for _, at in ipairs(rows) do
  local hll = tonumber(ARGV[at])
  local member, count, source, prefix = ARGV[at + 1], tonumber(ARGV[at + 2]), ARGV[at + 3], ARGV[at + 4]
  local sources = hll_sources[hll]
  if not sources then
    sources = {}
    hll_sources[hll] = sources
  end
  sources[#sources + 1] = source
  if prefix ~= '' then
    -- A bare address: counted on its row when kept already; else kept while its endpoint
    -- has room, else its prefix, else `other`. Every record lands in exactly one row, so the
    -- scores still add up.
    if cur[member] then
      incr(member, count)
    else
      local endpoint = string.sub(member, #source + 2)
      if count_of(endpoint) < max_sources then
        take(endpoint)
        incr(member, count)
        if not unnamed_seen[source] then
          unnamed_seen[source] = true
          unnamed_new[#unnamed_new + 1] = source
        end
      elseif cur[prefix] then
        incr(prefix, count)
      else
        local prefixes = endpoint .. '\tp'
        if count_of(prefixes) < max_prefixes then
          take(prefixes)
          incr(prefix, count)
        else
          incr('other\t' .. endpoint, count)
        end
      end
    end
  else
    incr(member, count)
    -- One of our own `account/region/name` sources: summed by `account/region` too.
    local own = string.match(source, '^([^/]*/[^/]*)/')
    if own then
      if not own_sums[own] then
        own_sums[own] = 0
        own_list[#own_list + 1] = own
      end
      own_sums[own] = own_sums[own] + count
    end
  end
end

-- 4. The writes, in bulk.
local args = {}
for _, m in ipairs(touched_list) do
  args[#args + 1] = string.format('%d', cur[m])
  args[#args + 1] = m
  if #args >= 4000 then
    redis.call('ZADD', KEYS[3], unpack(args))
    args = {}
  end
end
if #args > 0 then redis.call('ZADD', KEYS[3], unpack(args)) end
for _, own in ipairs(own_list) do
  redis.call('HINCRBY', KEYS[5], own, own_sums[own])
end
-- Newly kept public addresses wait for reverse DNS, while the day's list has room.
local unnamed_added = false
if #unnamed_new > 0 then
  local room = max_unnamed - redis.call('SCARD', KEYS[2])
  local from = 1
  while room > 0 and from <= #unnamed_new do
    local to = math.min(from + 3999, #unnamed_new)
    local known = redis.call('SMISMEMBER', KEYS[2], unpack(unnamed_new, from, to))
    local add = {}
    for k = from, to do
      if known[k - from + 1] == 0 and #add < room then add[#add + 1] = unnamed_new[k] end
    end
    if #add > 0 then
      room = room - redis.call('SADD', KEYS[2], unpack(add))
    end
    unnamed_added = true
    from = to + 1
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
  if #own_list > 0 then redis.call('EXPIREAT', KEYS[5], expire_at) end
  for k, _ in pairs(hll_sources) do redis.call('EXPIREAT', KEYS[k], expire_at) end
  if unnamed_added then redis.call('EXPIRE', KEYS[2], unnamed_ttl) end
end
return fresh_flags
