-- Record a failing service in the regional breaker window (or only look, when ARGV[5] is empty),
-- and note the breaker's state changes.
-- The breaker is open while more than `threshold` distinct services have a failure in the window.
-- An entry is in the window while its time t > now - window (lower bound exclusive; entries stamped
-- after `now` count, as in rate-hit.lua). The stored state is only there to see changes: the window
-- decides; so the breaker closes by itself once failures age out, at the next hit or look.
-- KEYS[1]  breaker window (sorted set: service -> time of its latest failure)
-- KEYS[2]  breaker state (string: 'open:<epoch ms it opened>'; absent or 'closed': closed)
-- KEYS[3]  breaker history (list of JSON changes, newest first)
-- ARGV[1]  now (epoch ms, integer)
-- ARGV[2]  window in milliseconds (integer > 0)
-- ARGV[3]  threshold (integer >= 0)
-- ARGV[4]  history cap (entries kept)
-- ARGV[5]  failing service, or '' to only look
-- Returns  {open (1|0), distinct services in the window, change (0 none, 1 opened, 2 closed),
--           services in the window when it changed (empty table when it did not),
--           when the breaker opened (epoch ms; 0 while closed, or unknown)}
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[5] ~= '' then
  -- GT: the score is the latest failure; a hit carrying an earlier time must not move it back.
  redis.call('ZADD', KEYS[1], 'GT', now, ARGV[5])
end
local count = redis.call('ZCARD', KEYS[1])
if count > 0 then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local ahead = tonumber(newest[2]) - now
  if ahead < 0 then
    ahead = 0
  end
  redis.call('PEXPIRE', KEYS[1], window + ahead)
end

local open = count > threshold
local stored = redis.call('GET', KEYS[2])
local was_open = type(stored) == 'string' and string.sub(stored, 1, 4) == 'open'
local opened_at = 0
if was_open then
  opened_at = tonumber(string.sub(stored, 6)) or 0
end
if open == was_open then
  return {open and 1 or 0, count, 0, {}, open and opened_at or 0}
end

local state = open and 'open' or 'closed'
-- No TTL on the state: if it expired while open, the next hit would record a second 'opened'.
redis.call('SET', KEYS[2], open and ('open:' .. ARGV[1]) or 'closed')
local services = redis.call('ZRANGE', KEYS[1], 0, -1)
local quoted = {}
for i, service in ipairs(services) do
  quoted[i] = cjson.encode(service)
end
-- Built by hand: cjson encodes an empty table as {} where the record needs [].
local entry = '{"state":"' .. state .. '","at":' .. ARGV[1] .. ',"services":[' ..
  table.concat(quoted, ',') .. '],"count":' .. count .. '}'
redis.call('LPUSH', KEYS[3], entry)
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return {open and 1 or 0, count, open and 1 or 2, services, open and tonumber(ARGV[1]) or 0}
