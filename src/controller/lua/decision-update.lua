-- Add what was learnt after a decision (late votes, the page's escalation) to its record, only if
-- the stored record is that same decision: a record built while Redis was away (dependency_down)
-- for an event another node had in fact decided must never overwrite the real decision. In the
-- same round trip, the event's audit entries of that moment (the page calls) are appended to its
-- trail, whether or not the record was updated: they happened.
-- KEYS[1]  decision key of the event
-- KEYS[2]  audit key of the event (list, oldest first)
-- ARGV[1]  the updated decision (JSON)
-- ARGV[2]  its decided_at (ISO 8601)
-- ARGV[3]  its coordinator's node id
-- ARGV[4]  entries kept in the trail at most (the oldest go)
-- ARGV[5]  the trail's retention in milliseconds (0: keep)
-- ARGV[6..] audit entries to append (JSON), in order
-- Returns  1 updated (TTL kept), 0 not updated: no record (expired or never written), or the
--          record of another decision
if #ARGV > 5 then
  for i = 6, #ARGV do
    redis.call('RPUSH', KEYS[2], ARGV[i])
  end
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
  if tonumber(ARGV[5]) > 0 then
    redis.call('PEXPIRE', KEYS[2], ARGV[5])
  end
end
local stored = redis.call('GET', KEYS[1])
if not stored then
  return 0
end
-- Decoded only to compare two strings; the record written is ARGV[1] as given, so cjson never
-- re-encodes it (it would round numbers and reorder fields). Fields are read from the top level,
-- not found anywhere in the text: the event's own data (the sender's) may carry the same names.
local ok, record = pcall(cjson.decode, stored)
if not ok or type(record) ~= 'table' or type(record.coordinator) ~= 'table' then
  return 0
end
if record.decided_at ~= ARGV[2] or record.coordinator.node ~= ARGV[3] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
