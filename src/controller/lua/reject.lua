-- List a record that was set aside, once per shard and sequence number, in one step: a marker set
-- without its entry (the connection lost between the two) would hide the record for good.
-- KEYS[1]  marker of the record (string; shard and sequence)
-- KEYS[2]  the rejected list (JSON entries, newest first)
-- KEYS[3]  the rejected records' times (sorted set: record id -> time, epoch ms), to count a period
-- ARGV[1]  the entry (JSON)
-- ARGV[2]  the marker's TTL in milliseconds
-- ARGV[3]  entries kept in the list (and in the times)
-- ARGV[4]  the record's id
-- ARGV[5]  the record's time, epoch ms
-- Returns  1 listed, 0 listed before
if not redis.call('SET', KEYS[1], '1', 'PX', ARGV[2], 'NX') then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[3]) - 1)
return 1
