-- Count one event of a service in its rolling rate window, once per event id.
-- An entry is in the window while its time t > now - window: the lower bound is exclusive, and
-- entries stamped after `now` (another node's clock ahead, a clock stepped back) still count, since
-- counting too many only suspends actions, while counting too few lets them run.
-- KEYS[1]  rate window of the service (sorted set: event id -> time)
-- ARGV[1]  now (epoch ms, integer)
-- ARGV[2]  window in milliseconds (integer > 0)
-- ARGV[3]  event id
-- Returns  the number of events in the window, this one included
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
-- NX: a redelivered event keeps its first time and is not counted twice.
redis.call('ZADD', KEYS[1], 'NX', now, ARGV[3])
local count = redis.call('ZCARD', KEYS[1])
-- The key outlives its newest entry's window, then goes away by itself (a quiet service leaves
-- nothing behind). The window itself is enforced by the scores above, not by this TTL.
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local ahead = tonumber(newest[2]) - now
if ahead < 0 then
  ahead = 0
end
redis.call('PEXPIRE', KEYS[1], window + ahead)
return count
