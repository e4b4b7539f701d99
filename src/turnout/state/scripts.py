"""The Lua scripts the Redis backend runs: each is one round trip and atomic in Redis.

Times come from the caller (epoch milliseconds) where a window is counted, and from Redis's own
key expiry (PX) where a gate or lease runs out, so no replica's clock decides a gate.
Numbers go back as strings: Redis would truncate a Lua number to an integer.
"""

from __future__ import annotations

#: KEYS: mark, gate, probe of each path in turn. ARGV: lease_ms. The first path with a mark
#: decides. -> {"go"} | {"skip"|"probe", mark, gate_ms_left, probing, path_number}
ADMIT = """
for i = 1, #KEYS, 3 do
  local mark = redis.call('GET', KEYS[i])
  if mark then
    local n = (i + 2) / 3
    local left = redis.call('PTTL', KEYS[i + 1])
    if left > 0 then return {'skip', mark, left, redis.call('EXISTS', KEYS[i + 2]), n} end
    if redis.call('SET', KEYS[i + 2], '1', 'NX', 'PX', ARGV[1]) then
      return {'probe', mark, 0, 1, n}
    end
    return {'skip', mark, 0, 1, n}
  end
end
return {'go'}
"""

#: KEYS: mark, gate, probe, index. ARGV: value, gate_ms, linger_ms, path, only_if_absent.
MARK = """
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local gate_ms = tonumber(ARGV[2])
local keep_ms = gate_ms + tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'PX', keep_ms)
if gate_ms > 0 then redis.call('SET', KEYS[2], '1', 'PX', gate_ms)
else redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[3])
redis.call('SADD', KEYS[4], ARGV[4])
if redis.call('PTTL', KEYS[4]) < keep_ms then redis.call('PEXPIRE', KEYS[4], keep_ms) end
return 1
"""

#: KEYS: mark, gate, probe, index. ARGV: path.
CLEAR = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
return 1
"""

#: KEYS: mark, gate, probe. -> false | {mark, gate_ms_left, probing}
PEEK = """
local mark = redis.call('GET', KEYS[1])
if not mark then return false end
return {mark, math.max(0, redis.call('PTTL', KEYS[2])), redis.call('EXISTS', KEYS[3])}
"""

#: KEYS: requests, tokens, budget, holds.
#: ARGV: now_ms, rpm (-1: none), tpm (-1: none), member, has_hold, amount, limit, seed,
#:       expire_at_ms, hold_ms.
#: -> {"ok", spent} | {"rate", wait_ms} | {"budget", committed}
ADMIT_KEY = """
local now = tonumber(ARGV[1])
local rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3])
local function wait_for(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] == nil then return {'rate', '60000'} end  -- a limit of 0 allows nothing
  return {'rate', tostring(math.max(0, tonumber(first[2]) + 60000 - now))}
end
if rpm >= 0 or tpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
  if rpm >= 0 and redis.call('ZCARD', KEYS[1]) >= rpm then return wait_for(KEYS[1]) end
  if tpm >= 0 then
    local used = 0
    for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      used = used + tonumber(string.match(m, '|([^|]+)$'))
    end
    if used >= tpm then return wait_for(KEYS[2]) end
  end
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], 61000)
end
if ARGV[5] ~= '1' then return {'ok', '0'} end
redis.call('HSETNX', KEYS[3], 'spent', ARGV[8])
redis.call('PEXPIREAT', KEYS[3], ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local spent = tonumber(redis.call('HGET', KEYS[3], 'spent'))
local held = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  held = held + tonumber(string.match(m, '|([^|]+)$'))
end
local amount, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
if spent + held + amount > limit or spent >= limit then
  return {'budget', tostring(spent + held)}
end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[10]), ARGV[4] .. '|' .. ARGV[6])
redis.call('PEXPIREAT', KEYS[4], math.max(tonumber(ARGV[9]), now + tonumber(ARGV[10])))
return {'ok', tostring(spent)}
"""

#: KEYS: tokens, then (budget, holds) per settlement.
#: ARGV: now_ms, tokens (-1: none), member, then (hold_member, actual, seed, expire_at_ms) per
#:       settlement. -> the spend of each budget after it
SETTLE = """
local now = tonumber(ARGV[1])
if tonumber(ARGV[2]) >= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[3] .. '|' .. ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 61000)
end
local out = {}
for i = 1, (#KEYS - 1) / 2 do
  local budget, holds, a = KEYS[2 * i], KEYS[2 * i + 1], 4 + 4 * (i - 1)
  redis.call('ZREM', holds, ARGV[a])
  redis.call('HSETNX', budget, 'spent', ARGV[a + 2])
  out[i] = redis.call('HINCRBYFLOAT', budget, 'spent', ARGV[a + 1])
  redis.call('PEXPIREAT', budget, ARGV[a + 3])
end
return out
"""

#: KEYS: budget. ARGV: spent, expire_at_ms. Keeps the larger of the two spends (a resync).
MERGE_SPENT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
if tonumber(ARGV[1]) > current then redis.call('HSET', KEYS[1], 'spent', ARGV[1]) end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"""

#: KEYS: notes (hash), order (sorted set by write), sequence. ARGV: key, value, max_notes,
#: linger_ms. The oldest written notes go once the topic holds more than max_notes; a topic
#: nobody writes to expires.
REMEMBER = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return 1
"""
