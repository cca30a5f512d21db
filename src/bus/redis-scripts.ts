/**
 * Lua scripts of the Redis bus, registered with defineCommand (a restarted Redis has an empty
 * script cache; ioredis re-sends the body on NOSCRIPT). Kept as strings so the build needs no copy
 * step. The client frame is not written here: the publish script closes each frame with the Lua
 * expression protocol/frame.ts generates (test/integration/frame-agreement.test.ts runs it).
 *
 * Imports: protocol/ (the frame format) only.
 */
import { frameWithOffsetLua } from '../protocol/frame.js';

export const PUBLISH_BATCH_LUA = String.raw`
-- Appends a batch of notifications to the history stream and announces them on the channel in
-- one message (wire.ts), skipping ids already published (dedupe window), in one atomic run.
--
-- KEYS[1] stream            KEYS[2] epoch key
-- ARGV[1] channel           ARGV[2] MAXLEN (approximate retention)
-- ARGV[3] dedupe TTL (s)    ARGV[4] dedupe key prefix (same hash slot as the stream)
-- ARGV[5] epoch to set if none exists (history lost or first start)
-- ARGV[6] batch id, or '': a batch id already published returns its first offsets, publishing nothing
-- ARGV[7..] groups of 3: id ('' = not remembered), frame head (envelope JSON without closing
--           brace), meta fragment
-- Stream entries: m = meta fragment, f = frame head, p = the previous entry's offset (so a reader
-- can tell whether trimming removed anything right after the offset it starts from).
-- Returns: one offset per item (the existing one for a duplicate).
local stream, epochKey = KEYS[1], KEYS[2]
local channel, maxlen, ttl, seenPrefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local batchKey = false
if ARGV[6] ~= '' then
  batchKey = seenPrefix .. 'batch:' .. ARGV[6]
  local done = redis.call('GET', batchKey)
  if done then
    local offsets = {}
    for o in string.gmatch(done, '[^,]+') do offsets[#offsets + 1] = o end
    return offsets
  end
end
if redis.call('EXISTS', epochKey) == 0 then
  redis.call('SET', epochKey, ARGV[5])
end
local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
local prev = '0-0'
if newest[1] then prev = newest[1][1] end
local out = {}
local records = {}
for i = 7, #ARGV, 3 do
  local id, head, meta = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local existing = false
  if id ~= '' then existing = redis.call('GET', seenPrefix .. id) end
  if existing then
    out[#out + 1] = existing
  else
    local offset = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'm', meta, 'f', head, 'p', prev)
    if id ~= '' then redis.call('SET', seenPrefix .. id, offset, 'EX', ttl) end
    records[#records + 1] = '{"o":"' .. offset .. '","p":"' .. prev .. '",' .. meta .. '}\n' .. ${frameWithOffsetLua('head', 'offset')}
    prev = offset
    out[#out + 1] = offset
  end
end
if #records > 0 then
  redis.call('PUBLISH', channel, 'N' .. table.concat(records, '\n'))
end
if batchKey then
  redis.call('SET', batchKey, table.concat(out, ','), 'EX', ttl)
end
return out
`;

export const HEARTBEAT_LUA = String.raw`
-- Announces the leader's liveness with the current epoch and newest offset, and records it in
-- the heartbeat key (expiring), so an edge can check the leader without its subscription.
-- KEYS[1] stream   KEYS[2] epoch key   KEYS[3] heartbeat key
-- ARGV[1] channel  ARGV[2] epoch to set if none exists  ARGV[3] leader id  ARGV[4] now (ms)
-- ARGV[5] heartbeat key expiry (ms)
local stream, epochKey = KEYS[1], KEYS[2]
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
if redis.call('EXISTS', epochKey) == 0 then
  redis.call('SET', epochKey, ARGV[2])
end
local epoch = redis.call('GET', epochKey)
local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
local last = '0-0'
if newest[1] then last = newest[1][1] end
redis.call('PUBLISH', ARGV[1],
  'h{"e":"' .. epoch .. '","l":"' .. last .. '","leader":' .. cjson.encode(ARGV[3]) .. ',"at":' .. ARGV[4] .. '}')
return last
`;
