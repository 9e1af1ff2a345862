-- Take a resource lock with a fencing token, or report who holds it.
-- Re-acquiring a lock one already holds returns the same token and restarts its TTL: an acquire
-- retried after a timeout (which may have been carried out) must not fail against itself.
-- KEYS[1]  lock (string: owner:token)
-- KEYS[2]  fence counter of the resource (string: last token handed out; never expires, so that
--          tokens strictly increase across every acquisition of the resource)
-- KEYS[3]  with a take-over: the work's claim key, which must hold ARGV[4] (the caller's claim
--          proves that the earlier attempt is over); else any key (unused)
-- KEYS[4]  with a take-over: a key that must not exist (the work's result: the earlier attempt did
--          not finish); else any key (unused)
-- ARGV[1]  owner
-- ARGV[2]  TTL in milliseconds (integer > 0)
-- ARGV[3]  the owner of an earlier attempt at the same work, whose lock this owner takes over; ''
--          for none
-- ARGV[4]  the claim holder KEYS[3] must name (this owner's node)
-- Returns  {1, token} acquired (or already held by this owner),
--          {1, token, holder} taken over from an earlier attempt `holder`, with a new token,
--          {0, holder, token} held by another owner
local current = redis.call('GET', KEYS[1])
if current then
  -- The owner may contain ':'; the token is what follows the last one.
  local holder, token = string.match(current, '^(.*):(%d+)$')
  if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tonumber(token)}
  end
  local earlier = ARGV[3] or ''
  if earlier ~= '' and holder == earlier and redis.call('GET', KEYS[3]) == ARGV[4]
      and redis.call('EXISTS', KEYS[4]) == 0 then
    -- A new token: the earlier attempt can no longer renew or release what is now this owner's.
    local taken = redis.call('INCR', KEYS[2])
    redis.call('SET', KEYS[1], ARGV[1] .. ':' .. taken, 'PX', ARGV[2])
    return {1, taken, holder}
  end
  return {0, holder or current, tonumber(token) or 0}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return {1, token}
