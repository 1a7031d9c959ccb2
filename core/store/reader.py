"""Reading the store: the API's only way into Redis.

Latest values come back as the raw JSON bytes the writer stored, so the API can serve them without
re-encoding; helpers decode them into models where the caller needs fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import orjson
import redis.asyncio as aioredis

from core.intervals import Interval
from core.models import Channel, Market
from core.store.codec import decode
from core.store.keys import KeySchema
from core.store.redis_errors import translate_redis_errors
from core.symbols import from_key


def _b(value: object) -> bytes:
    """Narrow a redis-py reply (bytes, as this client never decodes) to ``bytes``."""
    if isinstance(value, bytes):
        return value
    raise TypeError(f"unexpected redis reply {type(value).__name__}")


def _opt_b(value: object) -> bytes | None:
    return None if value is None else _b(value)


@dataclass(frozen=True)
class TradePage:
    """Trades newest first, and the cursor that continues after the last of them (None at the end)."""

    items: list[bytes]
    next_cursor: str | None


class StoreReader:
    """Async reads of every key the writer maintains; raises StorageError when Redis is away."""

    def __init__(self, url: str, *, keys: KeySchema | None = None, timeout: float = 2.0) -> None:
        self.keys = keys or KeySchema()
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, max_connections=64
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._redis.aclose()

    @property
    def client(self) -> aioredis.Redis:
        """The underlying client, for pub/sub."""
        return self._redis

    async def ping(self) -> bool:
        """True when Redis answers."""
        with translate_redis_errors("ping"):
            return bool(await self._redis.ping())

    # ---- registry and markets -------------------------------------------------------------------
    async def instances(self) -> dict[str, dict[str, Any]]:
        """Every instance the collector registered, with its metadata."""
        with translate_redis_errors("read instances"):
            raw = await self._redis.hgetall(self.keys.instances())
        return {_b(name).decode(): orjson.loads(_b(meta)) for name, meta in raw.items()}

    async def market_symbols(self, instance: str) -> list[str]:
        """Unified symbols of the instance's markets."""
        with translate_redis_errors("read market symbols"):
            raw = await self._redis.hkeys(self.keys.markets(instance))
        return sorted(from_key(_b(k).decode()) for k in raw)

    async def market_count(self, instance: str) -> int:
        """How many markets the instance has stored."""
        with translate_redis_errors("count markets"):
            return int(await self._redis.hlen(self.keys.markets(instance)))

    async def markets(self, instance: str) -> list[Market]:
        """The instance's markets, sorted by symbol."""
        with translate_redis_errors("read markets"):
            raw = await self._redis.hvals(self.keys.markets(instance))
        return sorted((decode(_b(v), Market) for v in raw), key=lambda m: m.symbol)

    # ---- latest values --------------------------------------------------------------------------
    async def latest(self, instance: str, symbol: str, channel: Channel) -> bytes | None:
        """The stored JSON of the latest ticker/quote/price/depth, or None."""
        with translate_redis_errors("read latest value"):
            value = await self._redis.get(self.keys.latest(instance, symbol, channel))
        return _opt_b(value)

    async def latest_many(
        self, instance: str, symbols: Sequence[str], channel: Channel
    ) -> list[bytes | None]:
        """Latest values of many symbols in one round trip, in the order asked."""
        if not symbols:
            return []
        with translate_redis_errors("read latest values"):
            values = await self._redis.mget([self.keys.latest(instance, s, channel) for s in symbols])
        return [_opt_b(v) for v in values]

    async def latest_of(self, pairs: Sequence[tuple[str, str]], channel: Channel) -> list[bytes | None]:
        """Latest values of ``(instance, symbol)`` pairs (across instances) in one round trip."""
        if not pairs:
            return []
        with translate_redis_errors("read latest values"):
            values = await self._redis.mget([self.keys.latest(i, s, channel) for i, s in pairs])
        return [_opt_b(v) for v in values]

    async def received_at(
        self, instance: str, symbol: str, channel: Channel, interval: Interval | None = None
    ) -> int | None:
        """Receive time (Unix ms) of the last update of one stream, or None."""
        field = self.keys.freshness_field(symbol, channel, interval)
        with translate_redis_errors("read freshness"):
            value = await self._redis.hget(self.keys.freshness(instance), field)
        return None if value is None else int(value)

    async def freshness(self, instance: str) -> dict[str, int]:
        """``{SYM}:{channel}[:{interval}]`` → receive time (Unix ms) of the last update."""
        with translate_redis_errors("read freshness"):
            raw = await self._redis.hgetall(self.keys.freshness(instance))
        return {_b(k).decode(): int(v) for k, v in raw.items()}

    async def stats(self, instance: str) -> dict[str, int]:
        """The instance's collector counters."""
        with translate_redis_errors("read stats"):
            raw = await self._redis.hgetall(self.keys.stats(instance))
        return {_b(k).decode(): int(v) for k, v in raw.items()}

    async def store_stats(self) -> dict[str, int]:
        """The store writers' counters (:data:`~core.store.writer.STORE_COUNTER_DOCS`), summed over
        every process that writes."""
        with translate_redis_errors("read store stats"):
            raw = await self._redis.hgetall(self.keys.store_stats())
        return {_b(k).decode(): int(v) for k, v in raw.items()}

    # ---- K-lines --------------------------------------------------------------------------------
    async def kline_count(self, instance: str, symbol: str, interval: Interval) -> int:
        """How many candles are stored."""
        with translate_redis_errors("count klines"):
            return int(await self._redis.zcard(self.keys.klines(instance, symbol, interval)))

    async def klines_range(
        self,
        instance: str,
        symbol: str,
        interval: Interval,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
        newest_first: bool = False,
    ) -> list[bytes]:
        """Candles whose open time is in [start_ms, end_ms], at most ``limit``."""
        low = "-inf" if start_ms is None else start_ms
        high = "+inf" if end_ms is None else end_ms
        key = self.keys.klines(instance, symbol, interval)
        with translate_redis_errors("read klines"):
            if newest_first:
                values = await self._redis.zrevrangebyscore(key, high, low, start=0, num=limit)
            else:
                values = await self._redis.zrangebyscore(key, low, high, start=0, num=limit)
        return [_b(v) for v in values]

    async def klines_page(
        self, instance: str, symbol: str, interval: Interval, *, page: int, page_size: int
    ) -> list[bytes]:
        """Page ``page`` (1-based) of candles, newest first."""
        start = (page - 1) * page_size
        with translate_redis_errors("read klines page"):
            values = await self._redis.zrevrange(
                self.keys.klines(instance, symbol, interval), start, start + page_size - 1
            )
        return [_b(v) for v in values]

    # ---- trades ---------------------------------------------------------------------------------
    async def trades(
        self, instance: str, symbol: str, *, limit: int = 100, cursor: str | None = None
    ) -> TradePage:
        """Recent trades newest first; pass ``next_cursor`` back to continue with older ones."""
        high = f"({cursor}" if cursor else "+"
        with translate_redis_errors("read trades"):
            reply = await self._redis.xrevrange(
                self.keys.trades(instance, symbol), max=high, min="-", count=limit + 1
            )
        entries = [(_b(entry_id), fields or {}) for entry_id, fields in (reply or [])]
        items = [_b(fields[b"d"]) for _, fields in entries[:limit]]
        more = len(entries) > limit
        next_cursor = entries[limit - 1][0].decode() if more and limit > 0 else None
        return TradePage(items=items, next_cursor=next_cursor)

    # ---- arbitrage ------------------------------------------------------------------------------
    async def opportunities(
        self, instance: str, *, limit: int = 100, min_return: float | None = None
    ) -> list[bytes]:
        """Opportunity JSON documents of the instance, best net return first, at most ``limit``;
        only those with net return ``>= min_return`` when given. Expired documents are skipped."""
        ranking = self.keys.arbitrage(instance)
        low: float | str = "-inf" if min_return is None else min_return
        found: list[bytes] = []
        start = 0
        while len(found) < limit:
            want = limit - len(found)
            with translate_redis_errors("read opportunities"):
                ids = await self._redis.zrevrangebyscore(ranking, "+inf", low, start=start, num=want)
                if not ids:
                    break
                keys = [self.keys.arbitrage_item(instance, _b(i).decode()) for i in ids]
                values = await self._redis.mget(keys)
            found += [_b(v) for v in values if v is not None]
            if len(ids) < want:
                break
            start += len(ids)
        return found

    # ---- live events ----------------------------------------------------------------------------
    async def events(
        self, instances: Sequence[str] | None = None, *, on_subscribed: Callable[[], None] | None = None
    ) -> AsyncIterator[tuple[str, list[Any]]]:
        """Yield ``(instance, [record dict, …])`` for every flush the writer publishes.

        ``on_subscribed`` is called once the subscription is in place (nothing published before it is seen).
        """
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            with translate_redis_errors("subscribe to events"):
                if instances:
                    await pubsub.subscribe(*[self.keys.events(i) for i in instances])
                else:
                    await pubsub.psubscribe(self.keys.events_pattern())
            if on_subscribed is not None:
                on_subscribed()
            while True:
                with translate_redis_errors("receive events"):
                    message: Mapping[str, Any] | None = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                channel = message["channel"].decode()
                yield self.keys.instance_of_events(channel), orjson.loads(message["data"])
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
