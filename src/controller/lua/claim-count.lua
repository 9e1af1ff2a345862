-- The claim of an event and, once it is won, the gates' windows for it (gate-windows.lua), in one
-- round trip: the claim decides who counts the event, so nothing is counted for a node that did not
-- win it (another node holds it, or it is decided already). Each part is its own script, included.
--#include controller/claim as claim
--#include safety/gate-windows as windows
-- KEYS[1..3]  claim.lua's: decision, claim and attempt keys of the event
-- KEYS[4..9]  gate-windows.lua's: dedup, rate window, breaker window, state and history, remediated
-- ARGV[1..2]  claim.lua's: this node, claim TTL in milliseconds
-- ARGV[3..11] gate-windows.lua's nine
-- Returns     claim.lua's reply, and when claimed, gate-windows.lua's as a third element:
--             {0}, {2, holder}, or {1, attempt, windows}
local claimed = claim({KEYS[1], KEYS[2], KEYS[3]}, {ARGV[1], ARGV[2]})
if claimed[1] ~= 1 then
  return claimed
end
local counted = windows({KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]},
  {ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]})
return {1, claimed[2], counted}
