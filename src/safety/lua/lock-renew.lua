-- Extend a resource lock, only for the exact owner and token that hold it.
-- KEYS[1]  lock (string: owner:token)
-- ARGV[1]  owner:token
-- ARGV[2]  TTL in milliseconds (integer > 0)
-- Returns  1 renewed, 0 not held by this owner and token (expired, released, taken by another)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
