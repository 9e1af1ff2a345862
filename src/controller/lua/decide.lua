-- Record an event's decision once, and index it.
-- KEYS[1]  decision key of the event
-- KEYS[2]  decisions index (sorted set)
-- KEYS[3]  claim key of the event (holds the id of the node evaluating it)
-- KEYS[4]  attempt key of the event (what the deciding attempt had taken: read here, and deleted by
--          the writer once it has answered for it, so that a writer whose reply was lost still can;
--          it never outlives the decision, so a redelivery after the decision is gone meets none)
-- ARGV[1]  decision (JSON)
-- ARGV[2]  event id
-- ARGV[3]  decision time (epoch ms)
-- ARGV[4]  retention of the decision in milliseconds (0: keep)
-- ARGV[5]  the deciding node (the record's coordinator)
-- Returns  {1, attempt} written; `attempt` is the event's attempt record (JSON) or '': what
--          an attempt at the event had taken (a lock, the page), for the writer to answer for;
--          {0} not written: a decision already exists (keep that one), or another node holds the
--          event's claim (it is deciding the event now; its decision is the one to keep)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0}
end
-- A claim that expired is no one's: the node that held it died or gave up, so this decision stands.
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[5] then
  return {0}
end
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('DEL', KEYS[3])
local attempt = redis.call('GET', KEYS[4])
if attempt and tonumber(ARGV[4]) > 0 then
  local left = redis.call('PTTL', KEYS[4])
  if left < 0 or left > tonumber(ARGV[4]) then
    redis.call('PEXPIRE', KEYS[4], ARGV[4])
  end
end
return {1, attempt or ''}
