"""The Redis key schema, version ``v1``. Documented in docs/redis-schema.md; change both together.

All keys live in one database (db 2 by default) under ``qw:v1:``. Symbols appear as ``BASE-QUOTE``.

=============================================  ==========  =============================================
key                                            type        value
=============================================  ==========  =============================================
``qw:v1:instances``                            hash        instance → JSON {plugin, simulated, …}
``qw:v1:{inst}:markets``                       hash        BASE-QUOTE → Market JSON
``qw:v1:{inst}:{SYM}:{ticker|quote|price|depth}``  string  latest record JSON
``qw:v1:{inst}:{SYM}:kline:{interval}``        zset        score open time (ms) → Kline JSON
``qw:v1:{inst}:{SYM}:trades``                  stream      field ``d`` → Trade JSON, capped (MAXLEN ~)
``qw:v1:{inst}:fresh``                         hash        ``{SYM}:{channel}[:{interval}]`` → receive ms
``qw:v1:{inst}:stats``                         hash        counter name → integer
``qw:v1:{inst}:arb``                           zset        score net return → Opportunity JSON
``qw:v1:{inst}:arb:{id}``                      string      Opportunity JSON (expiring)
``qw:v1:events:{inst}``                        pub/sub     JSON array of every record of one flush
``qw:v1:writer:{id}``                          string      a writer's sentinel: its last flush's number
``qw:v1:store-stats``                          hash        store writers' counter name → integer
=============================================  ==========  =============================================
"""

from __future__ import annotations

from core.intervals import Interval
from core.models import Channel
from core.symbols import to_key

SCHEMA_VERSION = "v1"
LATEST_CHANNELS: frozenset[Channel] = frozenset({Channel.TICKER, Channel.QUOTE, Channel.PRICE, Channel.DEPTH})


class KeySchema:
    """Builds every key and channel name; nothing else in quotewire spells a key."""

    def __init__(self, prefix: str = "qw") -> None:
        self.root = f"{prefix}:{SCHEMA_VERSION}"

    def instances(self) -> str:
        return f"{self.root}:instances"

    def markets(self, instance: str) -> str:
        return f"{self.root}:{instance}:markets"

    def latest(self, instance: str, symbol: str, channel: Channel) -> str:
        if channel not in LATEST_CHANNELS:
            raise ValueError(f"{channel} has no latest-value key")
        return f"{self.root}:{instance}:{to_key(symbol)}:{channel.value}"

    def klines(self, instance: str, symbol: str, interval: Interval) -> str:
        return f"{self.root}:{instance}:{to_key(symbol)}:kline:{interval.value}"

    def trades(self, instance: str, symbol: str) -> str:
        return f"{self.root}:{instance}:{to_key(symbol)}:trades"

    def freshness(self, instance: str) -> str:
        return f"{self.root}:{instance}:fresh"

    @staticmethod
    def freshness_field(symbol: str, channel: Channel, interval: Interval | None = None) -> str:
        field = f"{to_key(symbol)}:{channel.value}"
        return f"{field}:{interval.value}" if interval is not None else field

    def stats(self, instance: str) -> str:
        return f"{self.root}:{instance}:stats"

    def arbitrage(self, instance: str) -> str:
        return f"{self.root}:{instance}:arb"

    def arbitrage_item(self, instance: str, opportunity_id: str) -> str:
        return f"{self.root}:{instance}:arb:{opportunity_id}"

    def events(self, instance: str) -> str:
        return f"{self.root}:events:{instance}"

    def events_pattern(self) -> str:
        return f"{self.root}:events:*"

    def instance_of_events(self, channel: str) -> str:
        """The instance name of an events channel (inverse of :meth:`events`)."""
        return channel.rsplit(":", 1)[1]

    def writer_sentinel(self, writer_id: str) -> str:
        return f"{self.root}:writer:{writer_id}"

    def store_stats(self) -> str:
        """The store writers' own counters (one segment after the root: no instance's key)."""
        return f"{self.root}:store-stats"
