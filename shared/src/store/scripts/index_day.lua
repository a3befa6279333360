-- Lists account/regions in a day's index and sets its expiry. KEYS[1]: the index.
-- ARGV[1]: expire_at (Unix seconds), ARGV[2..]: `ACCOUNT:REGION` members.
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 0
