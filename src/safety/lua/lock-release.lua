-- Release a resource lock, only by the exact owner and token that hold it: a remediation whose lock
-- expired and was taken by another must not release the other's lock.
-- KEYS[1]  lock (string: owner:token)
-- ARGV[1]  owner:token
-- Returns  1 released, 0 not held by this owner and token
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
