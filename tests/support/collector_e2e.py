"""End-to-end collector tests on a simulated venue: configuration, freshness, and comparison of what
Redis holds with the venue's own REST answers once the market stands still.

Used by the Binance and the HTX end-to-end tests; the venue-specific part is the :class:`E2E` spec
(plugin module, instance name, venue options).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import pluggy

from core import hookspecs
from core.adapter import ExchangeAdapter
from core.clock import Clock
from core.collector import Collector, InstanceRunner
from core.config import AppConfig
from core.errors import StorageError
from core.intervals import ALL_INTERVALS, Interval
from core.models import Channel, Kline, OrderBook, Price, Quote, Ticker
from core.plugins import PluginHost
from core.sim import MarketListener
from core.store import StoreReader
from core.store.codec import decode
from core.symbols import to_key

LATEST = (Channel.TICKER, Channel.QUOTE, Channel.PRICE, Channel.DEPTH, Channel.TRADES)
"""Channels stored as a latest value (K-lines are series)."""


class PausableVenue(Protocol):
    """A simulated venue whose market can be frozen, so its REST answers stop moving."""

    @property
    def name(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def hub(self) -> MarketListener: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def instance_urls(self) -> Mapping[str, str]: ...

    async def pause(self) -> None: ...


@dataclass(frozen=True)
class E2E:
    """One venue's end-to-end set-up: its plugin, the instance name and the venue's options."""

    plugin: ModuleType
    plugin_name: str
    instance: str
    venue_options: Mapping[str, Any] = field(default_factory=dict)
    depth: int = 10

    def host(self) -> PluginHost:
        """A plugin host with only this plugin (others may be mid-change in a shared tree)."""
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        manager.register(self.plugin)
        return PluginHost(manager)

    def adapter_class(self) -> type[ExchangeAdapter]:
        return self.host().adapter(self.plugin_name)

    @property
    def utc_offset_ms(self) -> int:
        """Where the venue's daily and longer candles open."""
        return self.adapter_class().capabilities.utc_offset_ms

    @asynccontextmanager
    async def running_venue(self) -> AsyncIterator[PausableVenue]:
        """The plugin's simulated venue, started on a free loopback port."""
        venue: PausableVenue = self.host().venues[self.plugin_name](**self.venue_options)  # type: ignore[assignment]
        await venue.start()
        try:
            yield venue
        finally:
            await venue.stop()

    def config(
        self,
        venue: PausableVenue,
        redis_url: str,
        symbols: Sequence[str],
        *,
        collector: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> AppConfig:
        """Every channel and interval of ``symbols``; ``settings`` override the instance's."""
        urls = venue.instance_urls()
        instance = {
            "name": self.instance, "plugin": self.plugin_name, "simulated": True, "symbols": list(symbols),
            "depth_levels": self.depth, "kline_history": 200, "transport": "auto",
            "urls": {"rest": urls["rest"], "websocket": urls["websocket"]}, **settings,
        }  # fmt: skip
        return AppConfig.model_validate(
            {
                "redis": {"url": redis_url},
                "collector": {"flush_interval_ms": 10, **(collector or {})},
                "exchanges": {self.instance: instance},
            }
        )

    async def trading_symbols(self, venue: PausableVenue, redis_url: str, count: int) -> list[str]:
        """The first ``count`` symbols the venue lists as trading."""
        adapter = self.adapter_class()(self.config(venue, redis_url, ["BTC/USDT"]).exchanges[self.instance])
        async with adapter:
            markets = [m for m in await adapter.load_markets() if m.status == "trading"]
        return [m.symbol for m in markets[:count]]


@asynccontextmanager
async def running_task(work: Coroutine[Any, Any, None], name: str) -> AsyncIterator[asyncio.Task[None]]:
    """``work`` as a task, cancelled (and awaited) on exit."""
    task = asyncio.create_task(work, name=name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def running_collector(collector: Collector) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    """``collector.run()`` as a task, cancelled (and awaited) on exit."""
    return running_task(collector.run(), "collector-e2e")


def streaming(runner: InstanceRunner) -> bool:
    """True while the runner's websocket stream delivers."""
    return runner.stream_state is not None and runner.stream_state.is_up


def backfilled(runner: InstanceRunner, times: int = 1) -> bool:
    """True once the runner finished ``times`` K-line backfills."""
    return runner.klines is not None and runner.klines.backfills_done >= times


def backfill_idle(runner: InstanceRunner) -> bool:
    """True when no K-line backfill is queued or running (each one counts a ``resyncs``)."""
    klines = runner.klines
    return (
        klines is not None
        and klines.requests.empty()
        and runner.metrics.counts.get("resyncs", 0) == klines.backfills_done
    )


async def until(condition: Callable[[], bool], task: asyncio.Task[Any] | None = None) -> None:
    """Wait for in-process state that has no event of its own (the caller bounds the time).

    When ``task`` (the collector) ends meanwhile, its error is raised.
    """
    while not condition():
        if task is not None and task.done():
            task.result()
            raise AssertionError("the collector stopped")
        await asyncio.sleep(0.05)


async def stale_series(
    reader: StoreReader,
    instance: str,
    symbols: Sequence[str],
    now_ms: int,
    max_age_ms: int,
    since_ms: int = 0,
) -> list[str]:
    """The series (``symbol:channel`` or ``symbol:kline:interval``) not stored in the last ``max_age_ms``
    (or not since ``since_ms``), each with its age; empty when every one is fresh."""
    try:
        fresh = await reader.freshness(instance)
    except StorageError as error:
        return [f"freshness unreadable: {error}"]
    stale = []
    for symbol in symbols:
        key = to_key(symbol)
        fields = [f"{key}:{c.value}" for c in LATEST] + [f"{key}:kline:{i.value}" for i in ALL_INTERVALS]
        for name in fields:
            received = fresh.get(name)
            if received is None:
                stale.append(f"{name} never")
            elif now_ms - received > max_age_ms or received < since_ms:
                stale.append(f"{name} {now_ms - received} ms old")
    return stale


async def wait_complete(
    reader: StoreReader,
    collector: Collector,
    task: asyncio.Task[None],
    instance: str,
    symbols: Sequence[str],
    max_age_ms: int = 2000,
    since_ms: int = 0,
) -> None:
    """Wait until every series is fresh (and updated since ``since_ms``), after a finished backfill."""
    runner = collector.runners[instance]
    while not (
        backfilled(runner)
        and not await stale_series(reader, instance, symbols, collector.clock.now_ms(), max_age_ms, since_ms)
    ):
        if task.done():
            task.result()
            raise AssertionError("the collector stopped")
        await asyncio.sleep(0.1)


async def kline_opens(reader: StoreReader, instance: str, symbol: str, interval: Interval) -> list[int]:
    """The open times of every stored candle of one series, oldest first."""
    raw = await reader.klines_range(instance, symbol, interval, limit=100_000)
    return [decode(item, Kline).open_time for item in raw]


async def assert_no_kline_holes(
    reader: StoreReader, instance: str, symbols: Sequence[str], utc_offset_ms: int = 0
) -> None:
    """Every stored series of ``symbols`` is non-empty and consecutive."""
    for symbol in symbols:
        for interval in ALL_INTERVALS:
            opens = await kline_opens(reader, instance, symbol, interval)
            assert opens, f"{symbol} {interval.value}: no candles"
            holes = [
                (a, b) for a, b in itertools.pairwise(opens) if interval.next_open_time(a, utc_offset_ms) != b
            ]
            assert not holes, f"{symbol} {interval.value}: holes after {holes[:3]}"


MINUTE_MS = 60_000
SETTLED_INTO_MINUTE_MS = 10_000
"""How far into a minute the market is paused at the earliest, see :func:`clear_of_a_minute_turn`."""


async def clear_of_a_minute_turn(venue: PausableVenue) -> None:
    """Wait until the venue's clock is at least 10 s past a minute's start and 3 s before the next.

    A venue's REST K-lines include the candle of the current minute as soon as it begins, while a
    stream (HTX's) pushes that candle only with its first trade. Paused in the first seconds of a
    minute, a quiet symbol's new candle exists at the venue but was never streamed, and the
    comparison would fail for a reason that is not the collector's (seen once in a full run).
    """
    into = venue.clock.now_ms() % MINUTE_MS
    if into < SETTLED_INTO_MINUTE_MS:
        await venue.clock.sleep((SETTLED_INTO_MINUTE_MS - into) / 1000)
    elif into > MINUTE_MS - 3_000:
        await venue.clock.sleep((MINUTE_MS - into + SETTLED_INTO_MINUTE_MS) / 1000)


async def compare_with_venue(
    venue: PausableVenue,
    reader: StoreReader,
    spec: E2E,
    config: AppConfig,
    symbols: Sequence[str],
    collector: Collector,
    *,
    within: float = 10.0,
) -> None:
    """Freeze the market, let the last updates land, and compare Redis with the venue's REST answers.

    The venue's answers are read once; Redis must equal them within ``within`` seconds (a loaded
    machine may take a while to drain the last frames).
    """
    await clear_of_a_minute_turn(venue)
    await venue.pause()
    paused_at = venue.clock.now_ms()
    # depth diffs, tickers and K-lines go out on timers driven by the market loop: push the pending
    # ones once (the market stands still), as the next market batch would have
    await asyncio.sleep(1.1)
    venue.hub.on_batch(venue.clock.now_ms())
    want = await venue_answers(spec, config, symbols, paused_at)
    deadline = asyncio.get_running_loop().time() + within
    while True:
        await collector.writer.flush()
        mismatches = await differences(reader, spec.instance, want)
        if not mismatches:
            return
        assert asyncio.get_running_loop().time() < deadline, "\n".join(mismatches[:10])
        await asyncio.sleep(0.2)


@dataclass
class Answers:
    """What the paused venue answers over REST for one symbol."""

    price: Price
    quote: Quote
    book: OrderBook
    ticker: Ticker
    klines: dict[Interval, dict[int, Kline]]
    """Per interval, the candles by open time up to the last one opened before the pause."""


async def venue_answers(
    spec: E2E, config: AppConfig, symbols: Sequence[str], paused_at: int
) -> dict[str, Answers]:
    """The venue's REST answers for ``symbols`` through a fresh adapter."""
    answers: dict[str, Answers] = {}
    adapter = spec.adapter_class()(config.exchanges[spec.instance])
    async with adapter:
        await adapter.load_markets()
        for symbol in symbols:
            klines: dict[Interval, dict[int, Kline]] = {}
            for interval in ALL_INTERVALS:
                # a candle that opened while the market stood still was never traded nor pushed
                last_open = interval.open_time(paused_at, spec.utc_offset_ms)
                answer = await adapter.fetch_klines(symbol, interval, limit=50)
                klines[interval] = {k.open_time: k for k in answer if k.open_time <= last_open}
            answers[symbol] = Answers(
                price=await adapter.fetch_price(symbol),
                quote=await adapter.fetch_quote(symbol),
                book=await adapter.fetch_depth(symbol, spec.depth),
                ticker=await adapter.fetch_ticker(symbol),
                klines=klines,
            )
    return answers


def _ohlcv(kline: Kline) -> tuple[Any, ...]:
    return kline.open, kline.high, kline.low, kline.close, kline.volume


async def differences(reader: StoreReader, instance: str, want: Mapping[str, Answers]) -> list[str]:
    """How what Redis holds differs from the venue's answers (empty when equal)."""
    found: list[str] = []
    for symbol, answer in want.items():
        price = decode(_some(await reader.latest(instance, symbol, Channel.PRICE)), Price)
        if price.price != answer.price.price:
            found.append(f"{symbol} price {price.price} != {answer.price.price}")
        quote = decode(_some(await reader.latest(instance, symbol, Channel.QUOTE)), Quote)
        if (quote.bid, quote.ask) != (answer.quote.bid, answer.quote.ask):
            found.append(f"{symbol} quote {quote.bid}/{quote.ask} != {answer.quote.bid}/{answer.quote.ask}")
        book = decode(_some(await reader.latest(instance, symbol, Channel.DEPTH)), OrderBook)
        if (book.bids, book.asks) != (answer.book.bids, answer.book.asks):
            found.append(f"{symbol} book {book.sequence}: {book.bids[:2]}…/{book.asks[:2]}… != the venue's")
        ticker = decode(_some(await reader.latest(instance, symbol, Channel.TICKER)), Ticker)
        # pushed when a trade changes it; the rolling 24h fields move with the clock
        if ticker.last != answer.ticker.last:
            found.append(f"{symbol} ticker last {ticker.last} != {answer.ticker.last}")
        for interval, candles in answer.klines.items():
            raw = await reader.klines_range(
                instance, symbol, interval, start_ms=min(candles), end_ms=max(candles), limit=100
            )
            stored = [decode(item, Kline) for item in raw]
            if [k.open_time for k in stored] != sorted(candles):
                found.append(f"{symbol} {interval.value}: open times differ from the venue's")
                continue
            for kline in stored:  # backfilled, streamed and the running candle alike
                expected = candles[kline.open_time]
                if _ohlcv(kline) != _ohlcv(expected):
                    found.append(f"{symbol} {interval.value} {kline.open_time}: {kline!r} != {expected!r}")
    return found


def _some(value: bytes | None) -> bytes:
    assert value is not None
    return value
