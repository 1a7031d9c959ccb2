"""An in-test exchange for collector tests: deterministic data behind the adapter interface.

:class:`FakeVenue` holds the market state and the faults a test switches on (REST down, stream down,
a stall, a 429); :func:`make_adapter` builds an :class:`ExchangeAdapter` subclass serving it, with or
without bulk endpoints and websocket streams. Every value is a pure function of the symbol and the
clock's time, so tests can compare what Redis holds with what the venue serves.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import zlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from core.adapter import ExchangeAdapter, Subscription
from core.capabilities import Capabilities, RateLimit
from core.errors import RateLimitedError, TransientError
from core.intervals import Interval
from core.models import Channel, Kline, Market, OrderBook, Price, Quote, Record, Ticker, Trade

SYMBOLS = ("BTC/USDT", "ETH/USDT", "ETH/BTC", "LTC/BTC")
HALTED = "OLD/USDT"
DAY_MS = 86_400_000


def units(value: int) -> str:
    """An integer count of 10**-8 as an exact 8-decimal string."""
    return f"{value // 100_000_000}.{value % 100_000_000:08d}"


def _hash(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


class ManualClock:
    """A clock whose ``sleep`` advances time at once: backoff and cadence tests never wait."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.start_ms = start_ms
        self.t = 0.0
        self.sleeps: list[float] = []

    def now_ms(self) -> int:
        return self.start_ms + int(self.t * 1000)

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


class VirtualClock:
    """Virtual time for concurrent tasks: sleepers wake in deadline order, time jumps when all wait.

    :meth:`drive` lets every runnable task settle, then advances time to the earliest deadline.
    """

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.start_ms = start_ms
        self.t = 0.0
        self.sleeps: list[float] = []
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now_ms(self) -> int:
        return self.start_ms + int(self.t * 1000)

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiters, (self.t + seconds, self._seq, future))
        await future

    async def drive(self, done: Callable[[], bool], *, limit: float = 3600.0) -> None:
        """Advance time until ``done()`` holds (or ``limit`` virtual seconds passed)."""
        while not done() and self.t <= limit:
            for _ in range(50):
                await asyncio.sleep(0)
            if done():
                return
            while self._waiters and self._waiters[0][2].done():
                heapq.heappop(self._waiters)
            if not self._waiters:
                continue
            deadline, _, future = heapq.heappop(self._waiters)
            self.t = max(self.t, deadline)
            future.set_result(None)


class FastClock:
    """Real monotonic time and sleeping, but wall time running ``speed`` times faster (from now).

    At 600x a one-minute candle lasts 0.1 s, so a short outage leaves a visible hole to backfill.
    """

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.monotonic()
        self._ms0 = time.time_ns() // 1_000_000

    def now_ms(self) -> int:
        return self._ms0 + int((time.monotonic() - self._t0) * 1000 * self.speed)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class FakeVenue:
    """Market state and switchable faults shared by every adapter instance of one test."""

    listed_days: int = 400
    stream_period: float = 0.02
    rest_down: bool = False
    stream_down: bool = False
    halted: set[str] = field(default_factory=lambda: {HALTED})
    """Listed markets that do not trade (the others of ``SYMBOLS`` and ``HALTED`` do)."""
    symbols_down: set[str] = field(default_factory=set)
    """Symbols whose stream shard is dropped and refused (with :class:`ShardedFakeAdapter`)."""
    stall: bool = False
    kick: bool = False
    rate_limit_next: float | None = None
    used_weight: int | None = None
    calls: list[tuple[float, str, str]] = field(default_factory=list)
    connects: int = 0
    opened: int = 0
    closed: int = 0
    clock: Any = None

    def now(self) -> int:
        return int(self.clock.now_ms())

    def listing_ms(self) -> int:
        return Interval.MO1.open_time(self.now() - self.listed_days * DAY_MS)

    # ---- the data -------------------------------------------------------------------------------
    def price(self, symbol: str, t: int) -> int:
        base = 100 + _hash(symbol) % 50_000
        return (base * 100 + (t // 1000) % 97) * 1_000_000

    def kline(self, instance: str, symbol: str, interval: Interval, open_time: int) -> Kline:
        now = self.now()
        seed = _hash(symbol, interval.value, open_time)
        mid = self.price(symbol, open_time)
        close = mid + (seed % 1000) * 1_000_000 if open_time <= now - 60_000 else self.price(symbol, now)
        high = max(mid, close) + (seed % 7) * 1_000_000
        low = min(mid, close) - (seed % 5) * 1_000_000
        close_time = interval.close_time(open_time)
        return Kline(
            instance=instance, symbol=symbol, event_time=now, receive_time=now, interval=interval,
            open_time=open_time, close_time=close_time, open=units(mid), high=units(high), low=units(low),
            close=units(close), volume=units(seed % 10**9), quote_volume=None, trades=seed % 100,
            closed=close_time < now,
        )  # fmt: skip

    def klines(
        self, instance: str, symbol: str, interval: Interval, start: int | None, limit: int
    ) -> list[Kline]:
        now = self.now()
        current = interval.open_time(now)
        listing = interval.open_time(self.listing_ms())
        if start is None:
            opens = [current]
            while len(opens) < limit and opens[-1] > listing:
                opens.append(interval.open_time(opens[-1] - 1))
            opens.reverse()
        else:
            first = interval.open_time(max(start, listing))
            if first < start:
                first = interval.next_open_time(first)
            opens = []
            while first <= current and len(opens) < limit:
                opens.append(first)
                first = interval.next_open_time(first)
        return [self.kline(instance, symbol, interval, o) for o in opens]

    def ticker(self, instance: str, symbol: str) -> Ticker:
        now = self.now()
        last = self.price(symbol, now)
        return Ticker(
            instance=instance, symbol=symbol, event_time=now, receive_time=now, last=units(last),
            open=units(self.price(symbol, now - DAY_MS)), volume=units(_hash(symbol) % 10**12),
        )  # fmt: skip

    def quote(self, instance: str, symbol: str) -> Quote:
        now = self.now()
        last = self.price(symbol, now)
        return Quote(
            instance=instance, symbol=symbol, event_time=now, receive_time=now, bid=units(last - 1_000_000),
            bid_size=units(50_000_000), ask=units(last + 1_000_000), ask_size=units(70_000_000),
        )  # fmt: skip

    def last_price(self, instance: str, symbol: str) -> Price:
        now = self.now()
        return Price(
            instance=instance,
            symbol=symbol,
            event_time=now,
            receive_time=now,
            price=units(self.price(symbol, now)),
        )

    def depth(self, instance: str, symbol: str, levels: int) -> OrderBook:
        now = self.now()
        last = self.price(symbol, now)
        bids = [(units(last - (i + 1) * 1_000_000), units((i + 1) * 10_000_000)) for i in range(levels)]
        asks = [(units(last + (i + 1) * 1_000_000), units((i + 1) * 10_000_000)) for i in range(levels)]
        return OrderBook(
            instance=instance, symbol=symbol, event_time=now, receive_time=now, bids=bids, asks=asks,
            sequence=now, depth=levels,
        )  # fmt: skip

    def trades(self, instance: str, symbol: str, limit: int) -> list[Trade]:
        now = self.now()
        newest = now // 100  # ten trades a second
        return [
            Trade(
                instance=instance,
                symbol=symbol,
                event_time=i * 100,
                receive_time=now,
                id=str(i),
                price=units(self.price(symbol, i * 100)),
                amount=units(1_000_000),
                side="buy" if i % 2 else "sell",
            )
            for i in range(newest - limit + 1, newest + 1)
        ]

    def record(self, instance: str, subscription: Subscription) -> Sequence[Record]:
        channel, symbol, interval = subscription
        if channel is Channel.KLINE:
            assert interval is not None
            return [self.kline(instance, symbol, interval, interval.open_time(self.now()))]
        if channel is Channel.TRADES:
            return self.trades(instance, symbol, 3)
        if channel is Channel.DEPTH:
            return [self.depth(instance, symbol, 20)]
        if channel is Channel.TICKER:
            return [self.ticker(instance, symbol)]
        if channel is Channel.QUOTE:
            return [self.quote(instance, symbol)]
        return [self.last_price(instance, symbol)]


class FakeAdapter(ExchangeAdapter):
    """REST-only adapter over a :class:`FakeVenue` (per-symbol endpoints only)."""

    plugin_name = "fake"
    capabilities = Capabilities(max_klines_per_request=100)
    venue: ClassVar[FakeVenue]

    async def open(self) -> None:
        self.venue.opened += 1

    async def close(self) -> None:
        self.venue.closed += 1

    def _call(self, method: str, symbol: str = "*") -> None:
        venue = self.venue
        venue.calls.append((self.clock.monotonic(), method, symbol))
        if venue.rate_limit_next is not None:
            retry_after, venue.rate_limit_next = venue.rate_limit_next, None
            raise RateLimitedError("429 Too Many Requests", retry_after=retry_after)
        if venue.rest_down:
            raise TransientError("connection refused")

    async def load_markets(self) -> list[Market]:
        self._call("markets")
        now = self.venue.now()
        return [
            Market(
                instance=self.instance,
                symbol=s,
                native_id=s.replace("/", ""),
                base=s.split("/")[0],
                quote=s.split("/")[1],
                status="halted" if s in self.venue.halted else "trading",
                receive_time=now,
            )
            for s in (*SYMBOLS, HALTED)
        ]

    async def fetch_ticker(self, symbol: str) -> Ticker:
        self._call("ticker", symbol)
        return self.venue.ticker(self.instance, symbol)

    async def fetch_quote(self, symbol: str) -> Quote:
        self._call("quote", symbol)
        return self.venue.quote(self.instance, symbol)

    async def fetch_price(self, symbol: str) -> Price:
        self._call("price", symbol)
        return self.venue.last_price(self.instance, symbol)

    async def fetch_depth(self, symbol: str, levels: int) -> OrderBook:
        self._call("depth", symbol)
        return self.venue.depth(self.instance, symbol, levels)

    async def fetch_trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        self._call("trades", symbol)
        return self.venue.trades(self.instance, symbol, limit)

    async def fetch_klines(
        self, symbol: str, interval: Interval, *, start_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        self._call(f"klines:{interval.value}", symbol)
        return self.venue.klines(self.instance, symbol, interval, start_ms, limit)


class BulkFakeAdapter(FakeAdapter):
    """Adds all-symbol endpoints for tickers, quotes and prices."""

    async def fetch_tickers(self, symbols: Sequence[str]) -> list[Ticker]:
        self._call("tickers")
        return [self.venue.ticker(self.instance, s) for s in (*SYMBOLS, HALTED)]

    async def fetch_quotes(self, symbols: Sequence[str]) -> list[Quote]:
        self._call("quotes")
        return [self.venue.quote(self.instance, s) for s in (*SYMBOLS, HALTED)]

    async def fetch_prices(self, symbols: Sequence[str]) -> list[Price]:
        self._call("prices")
        return [self.venue.last_price(self.instance, s) for s in (*SYMBOLS, HALTED)]

    def used_weight(self) -> int | None:
        return self.venue.used_weight


class StreamingFakeAdapter(BulkFakeAdapter):
    """Streams every channel: one batch per subscription set every ``venue.stream_period``."""

    async def stream(self, subscriptions: Sequence[Subscription]) -> AsyncIterator[Sequence[Record]]:
        venue = self.venue
        venue.connects += 1
        symbols = {sub.symbol for sub in subscriptions}
        if venue.stream_down or symbols & venue.symbols_down:
            raise TransientError("websocket connect refused")
        while True:
            await asyncio.sleep(venue.stream_period)
            if venue.kick or venue.stream_down or symbols & venue.symbols_down:
                venue.kick = False
                raise TransientError("serverShutdown")
            if venue.stall:
                continue
            yield [r for sub in subscriptions for r in venue.record(self.instance, sub)]


class ShardedFakeAdapter(StreamingFakeAdapter):
    """Streams each symbol over its own connection (a shard of its own)."""

    def stream_shards(self, subscriptions: Sequence[Subscription]) -> list[list[Subscription]]:
        by_symbol: dict[str, list[Subscription]] = {}
        for sub in subscriptions:
            by_symbol.setdefault(sub.symbol, []).append(sub)
        return list(by_symbol.values())


def make_adapter(
    venue: FakeVenue,
    base: type[FakeAdapter] = FakeAdapter,
    *,
    streams: frozenset[Channel] = frozenset(),
    rate_limit: RateLimit | None = None,
    weights: Mapping[str, int] | None = None,
) -> type[FakeAdapter]:
    """An adapter class bound to ``venue`` with the given capabilities."""
    capabilities = Capabilities(
        stream_channels=streams, rate_limit=rate_limit, endpoint_weights=dict(weights or {}),
        max_klines_per_request=100,
    )  # fmt: skip
    return type(f"{base.__name__}Bound", (base,), {"venue": venue, "capabilities": capabilities})
