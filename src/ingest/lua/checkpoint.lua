-- Move a shard's checkpoint forward, only while the caller holds the shard's lease.
-- A node that lost its lease (paused, partitioned) must not move the checkpoint of a shard that
-- another node now reads, and a checkpoint never moves backwards.
-- KEYS[1]  lease key
-- KEYS[2]  checkpoint key
-- ARGV[1]  owner (node:token)
-- ARGV[2]  sequence number (decimal string)
-- Returns  1 moved, 2 already at or past it, 0 not the lease owner
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local current = redis.call('GET', KEYS[2])
if current then
  -- Kinesis sequence numbers are decimal strings: longer is larger, equal lengths compare as text.
  if #current > #ARGV[2] or (#current == #ARGV[2] and current >= ARGV[2]) then
    return 2
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
