/*
 * Lua scripts of the Redis store. Each runs atomically, which is what keeps
 * the device hash, the per-edge index and the limit consistent under
 * concurrent binds from many edges.
 *
 * Keys (P = key prefix):
 *   P dev:<account>   hash  device name → binary record (record.ts)
 *   P edge:<edgeId>   hash  "<account>\0<name>" → connId   (devices bound through that edge)
 *   P edges           zset  edgeId → heartbeat expiry, ms (Redis clock)
 *   P claim:<edgeId>  string holder of the edge's cleanup, with a TTL
 *   P rl:<key>        zset  hit time → hit time (sliding log); or member → last time (hitDistinct)
 *   P mk:<key>        string a mark with a TTL (known-good login pairs)
 *
 * Scripts build P edge:<edgeId> from the stored record (the edge is not known
 * to the caller of unbind), so the store is for single Redis / Sentinel, not
 * Redis Cluster.
 */

const NOW_MS = `local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** Reads the record header: version byte, then name, edgeId, connId as u16-length strings. */
const HEADER = `local function header(rec)
  local pos = 2
  local out = {}
  for i = 1, 3 do
    local hi, lo = string.byte(rec, pos, pos + 1)
    local len = hi * 256 + lo
    out[i] = string.sub(rec, pos + 2, pos + 1 + len)
    pos = pos + 2 + len
  end
  return out[1], out[2], out[3]
end
`;

/**
 * KEYS: dev, edge index. ARGV: max, account, connId, record tail, candidate names…
 * → {0, count} when full, else {1, name, record…}
 */
export const BIND = `
local count = redis.call('HLEN', KEYS[1])
if count >= tonumber(ARGV[1]) then return {0, count} end
local chosen = nil
for i = 5, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then chosen = ARGV[i] break end
end
if not chosen then return {0, count} end
local rec = string.char(1, math.floor(#chosen / 256), #chosen % 256) .. chosen .. ARGV[4]
redis.call('HSET', KEYS[1], chosen, rec)
redis.call('HSET', KEYS[2], ARGV[2] .. '\\0' .. chosen, ARGV[3])
local all = redis.call('HVALS', KEYS[1])
table.insert(all, 1, chosen)
table.insert(all, 1, 1)
return all
`;

/** KEYS: dev. ARGV: name, check connId ("1"/"0"), connId, prefix, account → removed record or nil */
export const UNBIND = `${HEADER}
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return false end
local _, edge, conn = header(rec)
if ARGV[2] == '1' and conn ~= ARGV[3] then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local idx = ARGV[4] .. 'edge:' .. edge
local field = ARGV[5] .. '\\0' .. ARGV[1]
if redis.call('HGET', idx, field) == conn then redis.call('HDEL', idx, field) end
return rec
`;

/** Compare-and-set of one record. KEYS: dev. ARGV: name, expected, next → 1 set, 0 changed meanwhile, -1 gone */
export const UPDATE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`;

/** KEYS: edges. ARGV: edgeId, ttlMs → 1 when the edge was registered before, 0 when added now */
export const HEARTBEAT = `${NOW_MS}
local added = redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
return 1 - added
`;

/**
 * KEYS: dev, edge index. ARGV: name, connId, record, account
 * → 1 restored, 0 present with this connId, -1 the name is held by another connection
 */
export const RESTORE = `${HEADER}
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local field = ARGV[4] .. '\\0' .. ARGV[1]
if cur then
  local _, _, conn = header(cur)
  if conn ~= ARGV[2] then return -1 end
  redis.call('HSET', KEYS[2], field, ARGV[2])
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], field, ARGV[2])
return 1
`;

/** KEYS: edges. ARGV: now (ms) or "" for the Redis clock → edge ids whose expiry is before now */
export const DEAD_EDGES = `${NOW_MS}
local now = ARGV[1] ~= '' and tonumber(ARGV[1]) or now_ms()
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
`;

/** KEYS: edges, edge index, claim. ARGV: edgeId */
export const REMOVE_EDGE = `
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2], KEYS[3])
else
  redis.call('ZADD', KEYS[1], 0, ARGV[1])
end
return 1
`;

/** KEYS: edges, edge index, claim. ARGV: edgeId */
export const FORGET_EDGE = `${NOW_MS}
redis.call('DEL', KEYS[3])
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) >= now_ms() then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
`;

/** KEYS: claim. ARGV: holder, ttlMs → 1 held, 0 someone else holds it */
export const CLAIM = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

const PRUNE = `${NOW_MS}
local now = now_ms()
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
`;

/** The refusal of a full window: {0, count, ms until its oldest hit leaves it (at least 1)}. */
const REFUSE = `local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local first = oldest[2] and tonumber(oldest[2]) or now
local retry = first + window - now
if retry < 1 then retry = 1 end
return {0, count, retry}
`;

/** KEYS: rl. ARGV: windowMs, limit, unique member suffix → {allowed, count, retryAfterMs} */
export const HIT = `${PRUNE}
if count < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, count + 1, 0}
end
${REFUSE}`;

/** KEYS: rl. ARGV: windowMs, limit → {allowed, count} */
export const PEEK = `${PRUNE}
return {count < tonumber(ARGV[2]) and 1 or 0, count}
`;

/**
 * KEYS: rl. ARGV: windowMs, limit, member → {allowed, distinct count, retryAfterMs}
 * A zset member → last time: a member already there is refreshed, a new one needs room.
 */
export const HIT_DISTINCT = `${PRUNE}
local present = redis.call('ZSCORE', KEYS[1], ARGV[3])
if present or count < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  if present then return {1, count, 0} end
  return {1, count + 1, 0}
end
${REFUSE}`;

/** KEYS: rl. ARGV: windowMs, member → {distinct count, present} */
export const PEEK_DISTINCT = `${PRUNE}
local present = redis.call('ZSCORE', KEYS[1], ARGV[2])
return {count, present and 1 or 0}
`;

/**
 * KEYS: dev of each account, then lt of each token account. ARGV: how many dev keys, then a new
 * token per lt key (set only where none is) → {records of account 1, …, token 1, …}
 * One command instead of a pipeline of HVALS, SET NX and GET: a message's session read is one
 * command to encode, time and parse.
 */
export const DEVICES_AND_TOKENS = `
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do out[i] = redis.call('HVALS', KEYS[i]) end
for i = n + 1, #KEYS do
  local t = redis.call('GET', KEYS[i])
  if not t then
    t = ARGV[i - n + 1]
    redis.call('SET', KEYS[i], t)
  end
  out[i] = t
end
return out
`;
