-- Renew a lease (a shard's, a workflow run's) if, and only if, the caller still holds it.
-- KEYS[1]  lease key
-- ARGV[1]  owner (node:token)
-- ARGV[2]  TTL in milliseconds
-- Returns  1 renewed, 0 not the owner (the lease expired or another node holds it)
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
