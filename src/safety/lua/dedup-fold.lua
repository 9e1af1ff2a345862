-- Fold events about the same thing: the first event for (service, resource, type) in the window
-- owns the key until the window ends.
-- KEYS[1]  dedup key (string: id of the first event)
-- ARGV[1]  event id
-- ARGV[2]  window in milliseconds (integer > 0)
-- Returns  the id of the event that owns the window: ARGV[1] when this event is the first (or a
--          redelivery of the first), the first event's id otherwise
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return ARGV[1]
end
return redis.call('GET', KEYS[1])
