-- Record what an attempt at deciding an event has taken (its lock; that it is acknowledging the
-- page), only while the attempt holds the event's claim and the event is undecided: an attempt
-- that lost its claim (it stalled, another node took the event over) must neither overwrite the
-- record the other node relies on nor go on to act.
-- KEYS[1]  claim key of the event
-- KEYS[2]  decision key of the event
-- KEYS[3]  attempt key of the event
-- ARGV[1]  this node
-- ARGV[2]  the attempt record (JSON)
-- ARGV[3]  its TTL in milliseconds
-- Returns  1 recorded, 0 refused: the claim is not this node's, or the event is decided
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
return 1
