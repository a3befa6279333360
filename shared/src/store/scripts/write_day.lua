-- One account/region's day of one batch, atomically. KEYS and ARGV: see `pair_script` in
-- redis_adapter/write.rs. Its rows come in groups, each the summed rows of one or more
-- payloads: a group is applied whole when none of its payloads was counted before, skipped when
-- all were, and left alone when some were (the caller sends those payloads again one by one).
-- Returns one flag per payload: 1 counted now, 0 counted before, 2 not written (mixed group).
--
-- Calls are what costs here (each `redis.call` is a command with its own lookups), so a row
-- is one call where it can be: a kept address or a named source is one ZINCRBY (the score it
-- returns says whether the row is new), and everything a batch adds to the bounds, the
-- reverse-DNS list, the own sums and the distinct-source estimates is written once at the end.
local expire_at = ARGV[1]
local seen_ttl = ARGV[2]
local unnamed_ttl = ARGV[3]
local max_sources = tonumber(ARGV[4])
local max_prefixes = tonumber(ARGV[5])
local max_unnamed = tonumber(ARGV[6])
local max_ports = tonumber(ARGV[7])
local max_endpoints = tonumber(ARGV[8])
local conn = KEYS[3]
-- COMMAND on KEY with list[from..to] as its arguments, in slices (Lua's stack is bounded);
-- each reply to `each`, when given.
local function sliced(command, key, list, from, to, each)
  for s = from, to, 4000 do
    local reply = redis.call(command, key, unpack(list, s, math.min(s + 3999, to)))
    if each then each(reply) end
  end
end
local i = 9
-- The HyperLogLog key numbers of each destination's folded ports (`dest⇥other`), and of the
-- account/region's folded endpoints (`other⇥other`).
local fold_hll = {}
for _ = 1, tonumber(ARGV[i]) do
  fold_hll[ARGV[i + 1]] = tonumber(ARGV[i + 2])
  i = i + 2
end
i = i + 1
local other_hll = tonumber(ARGV[i]); i = i + 1
local n_groups = tonumber(ARGV[i]); i = i + 1
local applied = false
-- The bounds' fields of KEYS[4] (`kept`): `dest⇥port` → bare-IP sources kept (present: the
-- endpoint is admitted), `dest⇥port⇥p` → prefixes kept, `dest⇥#` → ports admitted for the
-- destination, `#` → endpoints admitted. Read once (absent: false), counted here, written back
-- once at the end.
local fields, dirty = {}, {}
local function read(field)
  local v = fields[field]
  if v == nil then
    v = redis.call('HGET', KEYS[4], field)
    v = v and tonumber(v) or false
    fields[field] = v
  end
  return v
end
local function count_of(field)
  return read(field) or 0
end
local function add(field, n)
  fields[field] = count_of(field) + n
  dirty[field] = true
end
local function take(field) add(field, 1) end
-- Where each endpoint of the batch counts (`{endpoint, hll}`): itself once admitted; while
-- the destination has ports left and the account/region endpoints, a new endpoint is admitted;
-- a destination's later ports fold into `dest⇥other`, later endpoints into `other⇥other`.
local OTHER = 'other'
local route = {}
local function route_of(endpoint, hll)
  local r = route[endpoint]
  if r then return r end
  if read(endpoint) then
    r = {endpoint, hll}
  else
    local dest = string.match(endpoint, '^(.*)\t[^\t]*$')
    local ports = dest .. '\t#'
    local room = count_of('#') < max_endpoints
    local folded = dest .. '\t' .. OTHER
    if room and count_of(ports) < max_ports then
      take(ports); take('#'); add(endpoint, 0)
      r = {endpoint, hll}
    elseif read(folded) or (room and dest ~= OTHER) then
      if not read(folded) then take('#'); add(folded, 0) end
      r = {folded, fold_hll[dest]}
    else
      local all = OTHER .. '\t' .. OTHER
      if not read(all) then add(all, 0) end
      r = {all, other_hll}
    end
  end
  route[endpoint] = r
  return r
end
-- Each endpoint's `dest⇥port` by its HyperLogLog's key number, cut from a member once.
local endpoint_of = {}
-- Sources new to an endpoint, by HyperLogLog: a row that was there already brought its source
-- the first time, so only new rows (and folded ones) add to the estimate.
local hll_sources = {}
local function note(hll, source)
  local sources = hll_sources[hll]
  if not sources then
    sources = {}
    hll_sources[hll] = sources
  end
  sources[#sources + 1] = source
end
local kept_now = {}
local own_sums = {}
-- What the exposure review reads instead of rows (KEYS[6], `used`): per endpoint, the score of
-- its unnamed internet sources by family (`dest⇥port⇥4`, `⇥6`) and of each named source
-- (`dest⇥port⇥=NAME`). Summed here per endpoint as {IPv4, IPv6, {name → sum}} (no string
-- built per row), added to the hash once at the end.
local used = {}
local function use(endpoint, source, prefix, c)
  local e = used[endpoint]
  if not e then
    e = {0, 0, {}}
    used[endpoint] = e
  end
  if prefix == '' then
    local named = e[3]
    named[source] = (named[source] or 0) + c
  elseif string.find(prefix, ':', 1, true) then
    e[2] = e[2] + c
  else
    e[1] = e[1] + c
  end
end
local flags = {}
local function seen_state(first, k)
  -- 1: none of the group's payloads was counted before (now marked), 0: all were, 2: some were.
  if k == 1 then return redis.call('SADD', KEYS[1], ARGV[first]) end
  local last, before = first + k - 1, 0
  sliced('SMISMEMBER', KEYS[1], ARGV, first, last, function(found)
    for _, m in ipairs(found) do before = before + m end
  end)
  if before == k then return 0 end
  if before > 0 then return 2 end
  sliced('SADD', KEYS[1], ARGV, first, last)
  return 1
end
for _ = 1, n_groups do
  local k = tonumber(ARGV[i])
  local state = seen_state(i + 1, k)
  i = i + 1 + k
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, k do flags[#flags + 1] = state end
  if state == 1 then
    applied = true
    for _ = 1, n do
      local hll = tonumber(ARGV[i])
      local member, count, source, prefix = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
      local c = tonumber(count)
      local endpoint = endpoint_of[hll]
      if not endpoint then
        endpoint = string.sub(member, #source + 2)
        endpoint_of[hll] = endpoint
      end
      -- The endpoint the row counts under: its own, or a fold of its port or endpoint.
      local r = route_of(endpoint, hll)
      if r[1] ~= endpoint then
        endpoint, hll = r[1], r[2]
        member = source .. '\t' .. endpoint
      end
      use(endpoint, source, prefix, c)
      if prefix ~= '' then
        -- A bare address: counted on its row when kept already; else kept while its endpoint
        -- has room, else its prefix, else `other`. Every record lands in exactly one row, so
        -- the scores still add up. While there is room the address is kept either way: one
        -- ZINCRBY, new when its score is this count.
        if count_of(endpoint) < max_sources then
          if tonumber(redis.call('ZINCRBY', conn, count, member)) == c then
            take(endpoint)
            kept_now[#kept_now + 1] = source
            note(hll, source)
          end
        elseif not redis.call('ZADD', conn, 'XX', 'INCR', count, member) then
          note(hll, source)
          local folded = prefix .. '\t' .. endpoint
          if not redis.call('ZADD', conn, 'XX', 'INCR', count, folded) then
            local prefixes = endpoint .. '\tp'
            if count_of(prefixes) < max_prefixes then
              take(prefixes)
              redis.call('ZINCRBY', conn, count, folded)
            else
              redis.call('ZINCRBY', conn, count, 'other\t' .. endpoint)
            end
          end
        end
      else
        if tonumber(redis.call('ZINCRBY', conn, count, member)) == c then note(hll, source) end
        -- One of our own `account/region/name` sources: summed by `account/region` too.
        local own = string.match(source, '^([^/]*/[^/]*)/')
        if own then own_sums[own] = (own_sums[own] or 0) + c end
      end
      i = i + 5
    end
  else
    i = i + 5 * n
  end
end
-- Distinct sources per endpoint: one PFADD per endpoint, and its expiry (an estimate with no
-- new source this time already has it).
for hll, sources in pairs(hll_sources) do
  sliced('PFADD', KEYS[hll], sources, 1, #sources)
  redis.call('EXPIREAT', KEYS[hll], expire_at)
end
if next(dirty) then
  local pairs_out = {}
  for field, _ in pairs(dirty) do
    pairs_out[#pairs_out + 1] = field
    pairs_out[#pairs_out + 1] = fields[field]
  end
  -- (Slices of 4000 keep field and value together.)
  sliced('HSET', KEYS[4], pairs_out, 1, #pairs_out)
end
-- The reverse-DNS list, in the order the addresses were kept, while it has room: whole when
-- all fit, else one by one (an address may be listed already for another endpoint).
local unnamed_added = false
if #kept_now > 0 then
  local listed = redis.call('SCARD', KEYS[2])
  if listed + #kept_now <= max_unnamed then
    sliced('SADD', KEYS[2], kept_now, 1, #kept_now)
    unnamed_added = true
  else
    for k = 1, #kept_now do
      if listed >= max_unnamed then break end
      listed = listed + redis.call('SADD', KEYS[2], kept_now[k])
      unnamed_added = true
    end
  end
end
-- The review's sums: read once, added, written once.
local used_fields, used_sums = {}, {}
local function used_field(field, sum)
  if sum > 0 then
    used_fields[#used_fields + 1] = field
    used_sums[#used_sums + 1] = sum
  end
end
for endpoint, e in pairs(used) do
  used_field(endpoint .. '\t4', e[1])
  used_field(endpoint .. '\t6', e[2])
  for source, sum in pairs(e[3]) do used_field(endpoint .. '\t=' .. source, sum) end
end
if #used_fields > 0 then
  local out = {}
  sliced('HMGET', KEYS[6], used_fields, 1, #used_fields, function(values)
    for _, v in ipairs(values) do
      local k = #out / 2 + 1
      out[#out + 1] = used_fields[k]
      out[#out + 1] = (tonumber(v) or 0) + used_sums[k]
    end
  end)
  sliced('HSET', KEYS[6], out, 1, #out)
  redis.call('EXPIREAT', KEYS[6], expire_at)
end
local own_added = false
for own, sum in pairs(own_sums) do
  redis.call('HINCRBY', KEYS[5], own, sum)
  own_added = true
end
-- Redelivery bookkeeping lives for the dedup window, counted by the server's own clock.
redis.call('EXPIRE', KEYS[1], seen_ttl)
if applied then
  redis.call('EXPIREAT', conn, expire_at)
  -- (EXPIREAT of a key that does not exist is a no-op.)
  redis.call('EXPIREAT', KEYS[4], expire_at)
  if own_added then redis.call('EXPIREAT', KEYS[5], expire_at) end
  if unnamed_added then redis.call('EXPIRE', KEYS[2], unnamed_ttl) end
end
return flags
