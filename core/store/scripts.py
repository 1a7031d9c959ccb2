"""Server-side Lua for batch writes: one command carries a whole flush of K-lines or trades.

redis-py spends several microseconds packing each pipelined command in Python; a flush can touch
thousands of candles, so they travel as the arguments of one ``EVALSHA`` instead.
"""

from __future__ import annotations

# KEYS: K-line sorted sets. ARGV, per key in order: n, cap, then n pairs of (open time, candle JSON).
# A candle replaces any stored candle with the same open time; the set is then trimmed to ``cap``.
UPSERT_KLINES = """
local a = 1
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[a])
  local cap = tonumber(ARGV[a + 1])
  a = a + 2
  for _ = 1, n do
    local score = ARGV[a]
    redis.call('ZREMRANGEBYSCORE', key, score, score)
    redis.call('ZADD', key, score, ARGV[a + 1])
    a = a + 2
  end
  if cap > 0 then
    redis.call('ZREMRANGEBYRANK', key, 0, -cap - 1)
  end
end
return #KEYS
"""

# KEYS: trade streams. ARGV, per key in order: n, cap, then n trade JSON payloads (oldest first).
APPEND_TRADES = """
local a = 1
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[a])
  local cap = ARGV[a + 1]
  a = a + 2
  for _ = 1, n do
    redis.call('XADD', key, 'MAXLEN', '~', cap, '*', 'd', ARGV[a])
    a = a + 1
  end
end
return #KEYS
"""
