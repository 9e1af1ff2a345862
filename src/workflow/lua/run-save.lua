-- Write a run's state (its own fields, and or some of its steps') only while the writer holds the
-- run's lease: a node that lost its lease (it stalled, or could not reach Redis, and another node
-- took the run over) must not overwrite the new owner's record, and a step whose `running` state
-- cannot be written is never started. Several fields in one call: a step's end and the start of
-- the steps it lets go are one write, all or nothing.
-- KEYS[1]  run lease key
-- KEYS[2]  run hash
-- KEYS[3]  active runs index (sorted set)
-- ARGV[1]  lease owner (node:token)
-- ARGV[2]  1 when the run has finished (it leaves the index and is kept ARGV[4] ms), else 0
-- ARGV[3]  run id
-- ARGV[4]  TTL of a finished run in milliseconds
-- ARGV[5..] hash field (`run` or `step:<id>`), value (JSON), in pairs
-- Returns  1 written, 0 not written: the lease is not this owner's
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[2], unpack(ARGV, 5))
if ARGV[2] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return 1
