-- An interface is written by exactly one account/region (the refresh's attribution), but one
-- that changed hands (a shared VPC's participant newly monitored) may still be listed among
-- its former filer's fields: that one removes only entries still filed under its own pair.
local function still_ours(map, field)
  if map ~= KEYS[1] then return true end
  local json = redis.call('HGET', map, field)
  if not json then return false end
  local ok, facts = pcall(cjson.decode, json)
  if not ok or type(facts) ~= 'table' then return true end
  return (tostring(facts.account_id) .. ':' .. tostring(facts.region)) == ARGV[1]
end

local i = 3
for m = 1, 5 do
  local map, members = KEYS[m], KEYS[m + 5]
  local old = redis.call('SMEMBERS', members)
  for _, field in ipairs(old) do
    if still_ours(map, field) then redis.call('HDEL', map, field) end
  end
  redis.call('DEL', members)
  local n = tonumber(ARGV[i]); i = i + 1
  for _ = 1, n do
    redis.call('HSET', map, ARGV[i], ARGV[i + 1])
    redis.call('SADD', members, ARGV[i])
    i = i + 2
  end
end
redis.call('HSET', KEYS[11], ARGV[1], ARGV[2])
-- A refresh that succeeds ends the account/region's failure (KEYS[12]), with its new maps.
redis.call('HDEL', KEYS[12], ARGV[1])
return 1
