-- Release a resource lock held by an owner under any token: for an acquire whose reply was lost
-- (the caller never learnt its token). An owner is one node's decision of one event (handled once
-- at a time by that node), so this never releases another remediation's lock.
-- KEYS[1]  lock (string: owner:token)
-- ARGV[1]  owner
-- Returns  1 released, 0 not held by this owner
local value = redis.call('GET', KEYS[1])
if not value then
  return 0
end
local prefix = ARGV[1] .. ':'
if string.sub(value, 1, #prefix) == prefix and string.match(string.sub(value, #prefix + 1), '^%d+$') then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
