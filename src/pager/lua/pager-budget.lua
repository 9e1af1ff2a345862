-- The region's PagerDuty request budget: one token bucket shared by every node, because PagerDuty
-- counts the requests of the controller's user, whichever node sends them.
-- The bucket refills continuously at `rate` tokens a minute up to `capacity`; a take gets the
-- tokens above `floor` (the reserve of the higher priorities), up to what it wants: a call that
-- wants several collects them as they come, so that one wanting one token at a time elsewhere
-- cannot starve it. After a 429
-- nothing is granted before `paused_until` (PagerDuty's `ratelimit-reset`).
-- A missing key is a full bucket; it expires once it would be full again.
-- KEYS[1]  the bucket (hash: tokens, at, paused_until)
-- ARGV[1]  op: 'take' | 'give' | 'pause' | 'give-take' (a give of ARGV[5] tokens, then a take
--          with the arguments of a take one place further on: ARGV[6..])
-- ARGV[2]  now (epoch ms, integer)
-- ARGV[3]  capacity (tokens, integer > 0)
-- ARGV[4]  rate (tokens per minute, > 0)
-- ARGV[5]  take: tokens wanted; give: tokens given back; pause: epoch ms to pause until
-- ARGV[6]  take: floor (tokens that must be left)
-- ARGV[7]  take: tokens of a call to follow (a note after an escalation), granted with the last of
--          the wanted ones when there is room above their own floor; else 0 of them (optional)
-- ARGV[8]  take: that call's floor
-- ARGV[9..] take: more calls, served in one step after the first in the order given (the node's
--          queue order), four values each as ARGV[5..8]; a call is served only when every call
--          before it got all it wanted (the floors never fall along that order, so a call after one
--          left short could get nothing anyway)
-- Returns  {tokens granted (give: 1; pause: 0), ms to wait before asking again (0 when all were
--           granted; else until the next token above the floor of the call left short), tokens
--           left (integer), tokens of the call to follow granted}, then for each more call: its
--           tokens granted and its following call's}
local now = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'paused_until')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
local paused_until = tonumber(state[3]) or 0
-- A node whose clock runs behind must not refill the bucket twice; one running ahead must not
-- stop the refill for the others (a stamp more than 1 s ahead is taken back to this call's now).
if at > now + 1000 then
  at = now
end
-- Nothing accumulates during a pause: the bucket starts empty at PagerDuty's reset.
local from = math.max(at, paused_until)
if now > from then
  tokens = math.min(capacity, tokens + (now - from) * rate / 60000)
end
if now > at then
  at = now
end

local function save()
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at), 'paused_until',
    tostring(paused_until))
  local full_in = math.ceil((capacity - tokens) * 60000 / rate)
  local pause_left = math.max(0, paused_until - now)
  redis.call('PEXPIRE', KEYS[1], math.max(full_in, pause_left) + 60000)
end

local op = ARGV[1]
if op == 'pause' then
  paused_until = math.max(paused_until, tonumber(ARGV[5]))
  tokens = 0
  save()
  return {0, math.max(0, paused_until - now), 0, 0}
end
if op == 'give' then
  tokens = math.min(capacity, tokens + tonumber(ARGV[5]))
  save()
  return {1, 0, math.floor(tokens), 0}
end

-- Tokens a node gave back since its last step, returned before this step's take.
local shift = 0
if op == 'give-take' then
  tokens = math.min(capacity, tokens + tonumber(ARGV[5]))
  shift = 1
end
local calls = math.floor((#ARGV - 4 - shift) / 4)
if calls < 1 then
  calls = 1
end
local reply = {0, 0, 0, 0}
for i = 2, calls do
  reply[#reply + 1] = 0
  reply[#reply + 1] = 0
end
if now < paused_until then
  save()
  reply[2] = paused_until - now
  reply[3] = math.floor(tokens)
  return reply
end
local wait = 0
for i = 1, calls do
  local base = 4 * i + shift
  local wanted = tonumber(ARGV[base + 1])
  local floor = tonumber(ARGV[base + 2])
  local granted = math.min(wanted, math.max(0, math.floor(tokens - floor)))
  tokens = tokens - granted
  local next_granted = 0
  if granted == wanted then
    local next_wanted = tonumber(ARGV[base + 3]) or 0
    local next_floor = tonumber(ARGV[base + 4]) or 0
    next_granted = math.min(next_wanted, math.max(0, math.floor(tokens - next_floor)))
    tokens = tokens - next_granted
  end
  if i == 1 then
    reply[1] = granted
    reply[4] = next_granted
  else
    reply[2 * i + 1] = granted
    reply[2 * i + 2] = next_granted
  end
  if granted < wanted then
    -- Until the next token above this call's floor; the calls after it get nothing this time.
    wait = math.max(1, math.ceil((floor + 1 - tokens) * 60000 / rate))
    break
  end
end
save()
reply[2] = wait
reply[3] = math.floor(tokens)
return reply
