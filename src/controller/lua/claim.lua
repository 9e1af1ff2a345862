-- Take the right to decide an event, in one step with the check that it is not decided yet: a
-- decision written between a separate check and the claim would let the event be decided twice.
-- KEYS[1]  decision key of the event
-- KEYS[2]  claim key of the event
-- KEYS[3]  attempt key of the event (what an earlier attempt that died mid-decision had taken)
-- ARGV[1]  this node
-- ARGV[2]  claim TTL in milliseconds
-- Returns  {0} decided already,
--          {2, holder} another node holds the claim (it is deciding the event now),
--          {1, attempt} claimed; `attempt` is the earlier attempt's record (JSON) or ''
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0}
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then
  return {2, holder}
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return {1, redis.call('GET', KEYS[3]) or ''}
