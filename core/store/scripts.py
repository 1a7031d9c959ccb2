"""Server-side Lua for batch writes: one command carries a whole flush of K-lines or trades.

redis-py spends several microseconds packing each pipelined command in Python; a flush can touch
thousands of candles, so they travel as the arguments of one ``EVAL`` instead.

A key Redis refuses (one holding another type, say) costs only its own writes: the script goes on
with the next key and answers the refused ones, ``"<key>: <error>"`` each (an empty array when
every key was written).
"""

from __future__ import annotations

# KEYS: K-line sorted sets. ARGV, per key in order: n, cap, then n pairs of (open time, candle JSON).
# A candle replaces any stored candle with the same open time; the set is then trimmed to ``cap``.
UPSERT_KLINES = """
local a = 1
local refused = {}
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[a])
  local cap = tonumber(ARGV[a + 1])
  local first = a + 2
  a = first + 2 * n
  local reply = nil
  for i = first, a - 1, 2 do
    reply = redis.pcall('ZREMRANGEBYSCORE', key, ARGV[i], ARGV[i])
    if type(reply) == 'table' and reply.err then break end
    reply = redis.pcall('ZADD', key, ARGV[i], ARGV[i + 1])
    if type(reply) == 'table' and reply.err then break end
  end
  if not (type(reply) == 'table' and reply.err) and cap > 0 then
    reply = redis.pcall('ZREMRANGEBYRANK', key, 0, -cap - 1)
  end
  if type(reply) == 'table' and reply.err then
    refused[#refused + 1] = key .. ': ' .. reply.err
  end
end
return refused
"""

# KEYS: trade streams. ARGV, per key in order: n, cap, then n trade JSON payloads (oldest first).
APPEND_TRADES = """
local a = 1
local refused = {}
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[a])
  local cap = ARGV[a + 1]
  local first = a + 2
  a = first + n
  for i = first, a - 1 do
    local reply = redis.pcall('XADD', key, 'MAXLEN', '~', cap, '*', 'd', ARGV[i])
    if type(reply) == 'table' and reply.err then
      refused[#refused + 1] = key .. ': ' .. reply.err
      break
    end
  end
end
return refused
"""
