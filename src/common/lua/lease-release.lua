-- Release a lease (a shard's, a workflow run's), only by its owner.
-- KEYS[1]  lease key
-- ARGV[1]  owner (node:token)
-- Returns  1 released, 0 not the owner
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
