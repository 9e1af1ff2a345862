-- The windows the gates read for one event, in one round trip: the fold of a repeated report, then
-- (for the first report only: a folded one counts nowhere) its count in the service's rate window
-- and in the regional breaker window, and the host's latest remediation on record. Each part is
-- the script of its own gate, included as a function (its KEYS and ARGV are the call's).
--#include safety/dedup-fold as fold
--#include safety/rate-hit as rate_hit
--#include safety/breaker-update as breaker_update
-- KEYS[1]  dedup key of (service, resource, type)
-- KEYS[2]  rate window of the service
-- KEYS[3]  breaker window
-- KEYS[4]  breaker state
-- KEYS[5]  breaker history
-- KEYS[6]  remediated key of the event's host (or resource)
-- ARGV[1]  event id
-- ARGV[2]  dedup window in milliseconds
-- ARGV[3]  now (epoch ms, integer)
-- ARGV[4]  rate window in milliseconds
-- ARGV[5]  breaker window in milliseconds
-- ARGV[6]  breaker threshold
-- ARGV[7]  breaker history cap
-- ARGV[8]  the service (counted as failing in the breaker window)
-- ARGV[9]  '1' to read the remediated key, '0' when the event names no host or resource
-- Returns  {0, id of the first event} folded into it; or {1, events in the rate window,
--          the breaker's reply (see breaker-update.lua), the remediation record (JSON) or ''}
local owner = fold({KEYS[1]}, {ARGV[1], ARGV[2]})
if owner ~= ARGV[1] then
  return {0, owner}
end
local count = rate_hit({KEYS[2]}, {ARGV[3], ARGV[4], ARGV[1]})
local breaker = breaker_update({KEYS[3], KEYS[4], KEYS[5]}, {ARGV[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8]})
local remediated = ''
if ARGV[9] == '1' then
  remediated = redis.call('GET', KEYS[6]) or ''
end
return {1, count, breaker, remediated}
