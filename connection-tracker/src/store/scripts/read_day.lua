local out = {}
for _, pair in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = pair
  out[#out + 1] = redis.call('ZRANGE', ARGV[1] .. pair, 0, -1, 'WITHSCORES')
end
return out
