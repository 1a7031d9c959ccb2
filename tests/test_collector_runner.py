"""The collector against a real redis-server and an in-test adapter: polling, streams, recovery."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar

import pytest

from core.capabilities import RateLimit
from core.clock import SYSTEM_CLOCK, Clock
from core.collector.instance import InstanceRunner
from core.config import CollectorConfig, InstanceConfig, SymbolRule
from core.errors import StorageError, UnknownSymbolError
from core.intervals import ALL_INTERVALS, Interval
from core.models import ALL_CHANNELS, Channel, Kline, OrderBook, Price, Quote, Record, Ticker, Trade
from core.store import StoreReader, StoreWriter
from core.store.codec import decode
from tests.support.collector import (
    HALTED,
    BulkFakeAdapter,
    FakeAdapter,
    FakeVenue,
    FastClock,
    ShardedFakeAdapter,
    StreamingFakeAdapter,
    make_adapter,
)
from tests.support.redis_server import RedisServer

INSTANCE = "fake-test"
HISTORY = 30
SYMBOLS = ["BTC/USDT", "ETH/BTC"]
LATEST: dict[Channel, type[Record]] = {
    Channel.TICKER: Ticker,
    Channel.QUOTE: Quote,
    Channel.PRICE: Price,
    Channel.DEPTH: OrderBook,
}


def instance(**overrides: Any) -> InstanceConfig:
    values: dict[str, Any] = {
        "name": INSTANCE, "plugin": "fake", "symbols": ["BTC/USDT", "eth/btc"], "transport": "rest",
        "poll_interval": 0.05, "kline_history": HISTORY, "depth_levels": 10,
    }  # fmt: skip
    values.update(overrides)
    return InstanceConfig.model_validate(values)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Poll ``check`` (it reads Redis or the venue) until it holds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            with contextlib.suppress(StorageError):  # the test's reader reconnects after a restart
                if await check():
                    return
            await asyncio.sleep(0.05)


class Harness:
    """One runner, its writer and a reader on the test's Redis."""

    def __init__(
        self,
        redis_url: str,
        venue: FakeVenue,
        adapter: type[FakeAdapter],
        config: InstanceConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        settings: CollectorConfig | None = None,
    ) -> None:
        venue.clock = clock
        self.venue = venue
        self.writer = StoreWriter(redis_url, flush_interval=0.01)
        self.reader = StoreReader(redis_url)
        self.runner = InstanceRunner(config, adapter, self.writer, settings=settings, clock=clock)
        self.task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[Harness]:
        async with self.writer, self.reader:
            self.task = asyncio.create_task(self.runner.run(), name="runner-under-test")
            try:
                yield self
            finally:
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.task

    def alive(self) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # surface the crash
            raise AssertionError("the runner stopped")

    async def opens(self, symbol: str, interval: Interval) -> list[int]:
        raw = await self.reader.klines_range(INSTANCE, symbol, interval, limit=100_000)
        return [decode(item, Kline).open_time for item in raw]

    async def complete(self, symbol: str, interval: Interval, history: int = HISTORY) -> bool:
        """Every candle of the last ``history`` (or since listing) up to the current one, no gap."""
        self.alive()
        opens = await self.opens(symbol, interval)
        expected = [k.open_time for k in self.venue.klines(INSTANCE, symbol, interval, None, history)]
        return opens[-len(expected) :] == expected and _contiguous(opens, interval)

    async def latest_all(self) -> bool:
        self.alive()
        for symbol in SYMBOLS:
            for channel in LATEST:
                if await self.reader.latest(INSTANCE, symbol, channel) is None:
                    return False
            if not (await self.reader.trades(INSTANCE, symbol, limit=1)).items:
                return False
        return True

    async def latest_prices(self) -> bool:
        self.alive()
        return all([await self.reader.latest(INSTANCE, s, Channel.PRICE) is not None for s in SYMBOLS])

    async def latest_all_bulk(self) -> bool:
        self.alive()
        for symbol in SYMBOLS:
            for channel in (Channel.TICKER, Channel.QUOTE, Channel.PRICE):
                if await self.reader.latest(INSTANCE, symbol, channel) is None:
                    return False
        return True

    async def everything(self) -> bool:
        if not await self.latest_all():
            return False
        for symbol in SYMBOLS:
            for interval in ALL_INTERVALS:
                if not await self.complete(symbol, interval):
                    return False
        return True


def _contiguous(opens: list[int], interval: Interval) -> bool:
    return all(interval.next_open_time(a) == b for a, b in itertools.pairwise(opens))


async def test_rest_polling_fills_every_channel_and_all_intervals(redis_url: str) -> None:
    venue = FakeVenue()
    harness = Harness(redis_url, venue, make_adapter(venue), instance())
    async with harness.run() as h:
        await eventually(h.everything)
        await asyncio.sleep(0.3)  # more cycles: polled trades must not be appended twice
        await h.writer.flush()
        reader = h.reader
        assert h.runner.symbols == SYMBOLS  # upper-cased by the config
        for symbol in SYMBOLS:
            for interval in ALL_INTERVALS:
                raw = await reader.klines_range(INSTANCE, symbol, interval, limit=1000)
                want = {k.open_time: k for k in venue.klines(INSTANCE, symbol, interval, None, HISTORY)}
                assert len(raw) == len(want)
                for item in raw:
                    kline = decode(item, Kline)
                    if kline.closed:  # closed candles are final: equal to the venue's
                        assert kline == want[kline.open_time].model_copy(
                            update={"event_time": kline.event_time, "receive_time": kline.receive_time}
                        )
            ids = [
                decode(item, Trade).id for item in (await reader.trades(INSTANCE, symbol, limit=1000)).items
            ]
            assert len(ids) == len(set(ids)) > 100
            assert sorted(map(int, ids)) == list(range(min(map(int, ids)), max(map(int, ids)) + 1))
            for channel, model in LATEST.items():
                raw_latest = await reader.latest(INSTANCE, symbol, channel)
                assert raw_latest is not None
                record: Record = decode(raw_latest, model)
                assert record.symbol == symbol
            depth = await reader.latest(INSTANCE, symbol, Channel.DEPTH)
            assert depth is not None and len(decode(depth, OrderBook).bids) == 10
        registry = (await reader.instances())[INSTANCE]
        assert registry["plugin"] == "fake" and registry["simulated"] is False
        assert registry["channels"] == [c.value for c in ALL_CHANNELS]
        assert registry["intervals"] == [i.value for i in ALL_INTERVALS]
        assert HALTED in await reader.market_symbols(INSTANCE)
        stats = await reader.stats(INSTANCE)
        assert (
            stats["rest_calls"] > 0 and stats["records"] > 0 and stats["rest_weight"] >= stats["rest_calls"]
        )
        fresh = await reader.freshness(INSTANCE)
        assert {"BTC-USDT:kline:1M", "ETH-BTC:depth", "ETH-BTC:trades", "ETH-BTC:ticker"} <= set(fresh)
        assert h.runner.metrics.counts["rest_calls"] > 0


async def test_bulk_endpoints_replace_per_symbol_calls(redis_url: str) -> None:
    venue = FakeVenue()
    config = instance(channels=["ticker", "quote", "price"])
    harness = Harness(redis_url, venue, make_adapter(venue, BulkFakeAdapter), config)
    async with harness.run() as h:
        await eventually(h.latest_all_bulk)
        # bulk answers carry every market; only the configured symbols are stored
        assert await h.reader.latest(INSTANCE, HALTED, Channel.TICKER) is None
    methods = {method for _, method, _ in venue.calls}
    assert {"tickers", "quotes", "prices"} <= methods
    assert not methods & {"ticker", "quote", "price"}


async def test_unknown_symbols_stop_start_up_naming_each_with_suggestions(redis_url: str) -> None:
    venue = FakeVenue()
    config = instance(symbols=["BTC/USDT", "BTC/USDX", "ETH/BTX"])
    harness = Harness(redis_url, venue, make_adapter(venue), config)
    async with harness.writer:
        with pytest.raises(UnknownSymbolError) as caught:
            await harness.runner.run()
    message = str(caught.value)
    assert "BTC/USDX" in message and "ETH/BTX" in message and "BTC/USDT" in message.split("BTC/USDX")[1]
    assert venue.closed == venue.opened == 1  # the adapter was closed


async def test_a_symbol_rule_selects_trading_markets(redis_url: str) -> None:
    venue = FakeVenue()
    config = instance(symbols=SymbolRule(quote=["USDT"]), channels=["price"])
    harness = Harness(redis_url, venue, make_adapter(venue), config)
    async with harness.run() as h:
        await eventually(lambda: _ready(h))
        assert h.runner.symbols == ["BTC/USDT", "ETH/USDT"]  # OLD/USDT is halted


async def test_a_symbol_rule_follows_listings_while_running(redis_url: str) -> None:
    """At each markets reload the rule is resolved again: a new listing is streamed, polled and
    backfilled; a halted market is no longer polled."""
    venue = FakeVenue()
    adapter = make_adapter(venue, ShardedFakeAdapter, streams=frozenset({Channel.PRICE, Channel.KLINE}))
    config = instance(
        symbols=SymbolRule(quote=["USDT"]),
        channels=["price", "depth", "kline"],
        intervals=["1h"],
        transport="auto",
    )
    settings = CollectorConfig(markets_refresh=0.3)
    harness = Harness(redis_url, venue, adapter, config, settings=settings)
    async with harness.run() as h:
        await eventually(lambda: _ready(h))
        assert h.runner.symbols == ["BTC/USDT", "ETH/USDT"]
        venue.halted = {"ETH/USDT"}  # OLD/USDT trades again, ETH/USDT halts
        await eventually(lambda: _symbols_are(h, ["BTC/USDT", HALTED]))
        await eventually(lambda: h.complete(HALTED, Interval.H1))  # its history, backfilled
        await eventually(lambda: _stored(h, HALTED, Channel.PRICE))  # streamed
        await eventually(lambda: _stored(h, HALTED, Channel.DEPTH))  # polled (not streamed here)
        mark = len(venue.calls)
        await eventually(lambda: _depth_polls_since(venue, mark, 6))
        assert {symbol for _, method, symbol in venue.calls[mark:] if method == "depth"} == {
            "BTC/USDT",
            HALTED,
        }
        assert [s.subscriptions[0].symbol for s in h.runner.supervisors] == ["BTC/USDT", "ETH/USDT", HALTED]
        venue.halted = set()  # ETH/USDT trades again: polled again, streamed by the shard it kept
        await eventually(lambda: _symbols_are(h, ["BTC/USDT", HALTED, "ETH/USDT"]))
        assert len(h.runner.supervisors) == 3


async def _symbols_are(h: Harness, symbols: list[str]) -> bool:
    h.alive()
    return h.runner.symbols == symbols


async def _stored(h: Harness, symbol: str, channel: Channel) -> bool:
    h.alive()
    return await h.reader.latest(INSTANCE, symbol, channel) is not None


async def _depth_polls_since(venue: FakeVenue, mark: int, count: int) -> bool:
    return sum(1 for _, method, _ in venue.calls[mark:] if method == "depth") >= count


async def _ready(h: Harness) -> bool:
    h.alive()
    return h.runner.ready.is_set()


async def test_a_429_pauses_rest_for_retry_after_then_collection_resumes(redis_url: str) -> None:
    venue = FakeVenue()
    config = instance(channels=["price", "depth"])
    harness = Harness(redis_url, venue, make_adapter(venue), config)
    async with harness.run() as h:
        await eventually(h.latest_prices)
        venue.rate_limit_next = 0.6
        await eventually(lambda: _flag_cleared(venue))
        refused_at = venue.calls[-1][0]
        await eventually(lambda: _calls_after(venue, refused_at + 0.6, 4))
        limiter = h.runner.limiter
        assert limiter is not None
    after = [t for t, method, _ in venue.calls if t > refused_at]
    assert after and min(after) >= refused_at + 0.6  # nothing was sent during the pause
    assert harness.runner.metrics.counts["errors"] >= 1
    assert harness.runner.metrics.counts["rate_limit_waits"] >= 1


async def _flag_cleared(venue: FakeVenue) -> bool:
    return venue.rate_limit_next is None


async def _calls_after(venue: FakeVenue, t: float, count: int) -> bool:
    return sum(1 for at, _, _ in venue.calls if at > t) >= count


async def test_the_budget_limits_the_call_rate(redis_url: str) -> None:
    venue = FakeVenue()
    # 60 weight a minute at share 0.5: 30 calls a minute, however fast the cadence asks
    adapter = make_adapter(venue, rate_limit=RateLimit(limit=60, window_seconds=60))
    harness = Harness(
        redis_url, venue, adapter, instance(channels=["price"], poll_interval=0.01, rate_limit_share=0.5)
    )
    async with harness.run() as h:
        await eventually(h.latest_prices)
        await asyncio.sleep(0.5)
        plan = h.runner.plan
        assert plan is not None and not plan.fits
    assert len([c for c in venue.calls if c[1] == "price"]) <= 30


def streaming_harness(redis_url: str, venue: FakeVenue, adapter: type[FakeAdapter]) -> Harness:
    """A runner streaming every channel (and polling only what no stream covers)."""
    streaming = make_adapter(venue, adapter, streams=frozenset(ALL_CHANNELS))
    return Harness(redis_url, venue, streaming, instance(transport="auto", kline_history=5))


async def streaming_everything(h: Harness) -> None:
    await eventually(lambda: _stream_up(h))
    await eventually(h.latest_all)


async def test_streams_first_and_rest_only_while_the_stream_is_down(redis_url: str) -> None:
    venue = FakeVenue()
    async with streaming_harness(redis_url, venue, StreamingFakeAdapter).run() as h:
        await streaming_everything(h)
        await asyncio.sleep(0.3)
        polled = _polls(venue)
        await asyncio.sleep(0.5)
        assert _polls(venue) == polled  # the stream covers every channel: no polling
        venue.stream_down = True  # the venue drops the stream and refuses reconnects
        await eventually(lambda: _polls_more(venue, polled + 10))  # REST takes over
        venue.stream_down = False
        await eventually(lambda: _stream_up(h))
        assert h.runner.metrics.counts["reconnects"] >= 1
        assert h.runner.metrics.counts["messages"] > 0


async def test_a_lost_shard_is_polled_for_its_own_symbols_only(redis_url: str) -> None:
    venue = FakeVenue()
    async with streaming_harness(redis_url, venue, ShardedFakeAdapter).run() as h:
        await streaming_everything(h)
        btc, eth = h.runner.supervisors
        assert [s.subscriptions[0].symbol for s in (btc, eth)] == SYMBOLS
        mark, polls = len(venue.calls), _polls(venue)
        venue.symbols_down.add("ETH/BTC")  # its connection drops and is refused
        await eventually(lambda: _polls_more(venue, polls + 10))  # REST takes over for it
        polled = {symbol for _, method, symbol in venue.calls[mark:] if method in ("depth", "trades")}
        assert polled == {"ETH/BTC"}
        depth_polls = [t for t, method, _ in venue.calls[mark:] if method == "depth"]
        gaps = [b - a for a, b in itertools.pairwise(depth_polls)]
        assert max(gaps) < 1.0  # the 2 s grace is waited once per outage, not before every cycle
        state = h.runner.stream_state
        assert state is not None and not state.is_up and state.uncovered(SYMBOLS) == ["ETH/BTC"]
        venue.symbols_down.clear()
        await eventually(lambda: _stream_up(h))
        assert btc.sessions == 1 and eth.sessions >= 2


def _polls(venue: FakeVenue) -> int:
    return sum(1 for _, method, _ in venue.calls if method in ("depth", "trades", "prices"))


async def _polls_more(venue: FakeVenue, count: int) -> bool:
    return _polls(venue) >= count


async def _stream_up(h: Harness) -> bool:
    h.alive()
    state = h.runner.stream_state
    return state is not None and state.is_up


async def test_no_kline_holes_after_an_outage_of_stream_and_rest(redis_url: str) -> None:
    venue = FakeVenue()
    clock = FastClock(speed=600.0)  # one-minute candles last 0.1 s
    adapter = make_adapter(venue, StreamingFakeAdapter, streams=frozenset(ALL_CHANNELS))
    config = instance(transport="auto", channels=["kline"], intervals=["1m", "5m", "1h"], kline_history=50)
    harness = Harness(redis_url, venue, adapter, config, clock=clock)
    async with harness.run() as h:
        await eventually(lambda: _stream_up(h))
        for interval in (Interval.M1, Interval.M5):
            await eventually(lambda interval=interval: h.complete("BTC/USDT", interval, 50))  # type: ignore[misc]
        before = (await h.opens("BTC/USDT", Interval.M1))[-1]
        venue.rest_down = venue.stream_down = True  # the venue is unreachable for a while
        await eventually(lambda: _venue_moved(venue, before + 15 * 60_000))
        venue.rest_down = venue.stream_down = False
        await eventually(lambda: _stream_up(h))
        await h.writer.flush()
        for symbol in SYMBOLS:
            for interval in (Interval.M1, Interval.M5, Interval.H1):
                await eventually(lambda s=symbol, i=interval: h.complete(s, i, 50))  # type: ignore[misc]
        opens = await h.opens("BTC/USDT", Interval.M1)
        assert opens[-1] > before + 15 * 60_000 and before in opens
        assert _contiguous(opens, Interval.M1)
        assert h.runner.metrics.counts["resyncs"] >= 2  # start + reconnect


async def _venue_moved(venue: FakeVenue, t: int) -> bool:
    return venue.now() > t


async def test_the_stall_watchdog_reconnects_a_silent_stream(redis_url: str) -> None:
    venue = FakeVenue()
    adapter = make_adapter(venue, StreamingFakeAdapter, streams=frozenset({Channel.PRICE}))
    settings = CollectorConfig(stall_timeout=0.3)
    harness = Harness(
        redis_url, venue, adapter, instance(transport="websocket", channels=["price"]), settings=settings
    )
    async with harness.run() as h:
        await eventually(lambda: _stream_up(h))
        venue.stall = True  # connected, but no frames
        await eventually(lambda: _connects(venue, 3))
        venue.stall = False
        await eventually(lambda: _stream_up(h))
        assert h.runner.metrics.counts["reconnects"] >= 2


async def _connects(venue: FakeVenue, count: int) -> bool:
    return venue.connects >= count


async def test_redis_restart_mid_run_is_survived_and_state_rewritten(
    redis_url: str, redis_server: RedisServer
) -> None:
    venue = FakeVenue()
    harness = Harness(redis_url, venue, make_adapter(venue), instance(poll_interval=0.1))
    async with harness.run() as h:
        await eventually(h.everything)
        redis_server.stop()
        await asyncio.sleep(0.5)  # the collector keeps polling into the writer's buffer
        h.alive()
        redis_server.start()  # empty: no persistence
        await eventually(h.everything)  # latest values rewritten, K-line history backfilled again
        assert (await h.reader.instances())[INSTANCE]["plugin"] == "fake"
        assert h.writer.stats.resets >= 1
        assert h.runner.metrics.counts["resyncs"] >= 2


async def test_cancellation_stops_cleanly_and_closes_the_adapter(redis_url: str) -> None:
    venue = FakeVenue()
    adapter = make_adapter(venue, StreamingFakeAdapter, streams=frozenset(ALL_CHANNELS))
    harness = Harness(redis_url, venue, adapter, instance(transport="auto"))
    async with harness.run() as h:
        await eventually(h.latest_all)
        task = h.task
    assert task is not None and task.cancelled()
    assert venue.opened == venue.closed == 1


class _CountingStreams(StreamingFakeAdapter):
    """Reports :attr:`totals` as what its streams counted (the test raises them)."""

    totals: ClassVar[Mapping[str, int]] = {}

    def stream_counters(self) -> Mapping[str, int]:
        return self.totals


async def test_stream_counters_reach_the_stats_hash_and_are_read_once_more_on_stop(redis_url: str) -> None:
    venue = FakeVenue()
    adapter = make_adapter(venue, _CountingStreams, streams=frozenset({Channel.PRICE}))
    harness = Harness(redis_url, venue, adapter, instance(transport="websocket", channels=["price"]))
    _CountingStreams.totals = {"resyncs": 1, "malformed": 2}
    async with harness.run() as h:

        async def counted() -> bool:
            h.alive()
            return (await h.reader.stats(INSTANCE)).get("malformed") == 2

        await eventually(counted)  # read once a second
        assert h.runner.metrics.counts["resyncs"] == 1  # no K-lines here: no backfill resyncs
        _CountingStreams.totals = {"resyncs": 1, "malformed": 5}  # counted just before the stop
    assert h.runner.metrics.counts["malformed"] == 5  # read once more on the way out


class _KlineStartsRecorded(FakeAdapter):
    """Records the start of every K-line request."""

    starts: ClassVar[list[tuple[str, Interval, int | None]]] = []

    async def fetch_klines(
        self, symbol: str, interval: Interval, *, start_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        self.starts.append((symbol, interval, start_ms))
        return await super().fetch_klines(symbol, interval, start_ms=start_ms, limit=limit)


async def test_kline_polling_keeps_series_current_and_leaves_history_to_the_backfill(redis_url: str) -> None:
    """A poll of a series nothing was written for yet asks for the last two candles, not the whole
    ``kline_history``: every poll cycle before the backfill had written a series fetched its whole
    history again, at live priority. The history still arrives, once, through the backfill."""
    venue = FakeVenue()
    adapter = make_adapter(venue, _KlineStartsRecorded)
    _KlineStartsRecorded.starts.clear()
    config = instance(channels=["kline"], intervals=["1m"], kline_history=HISTORY)
    harness = Harness(redis_url, venue, adapter, config)
    async with harness.run() as h:
        for symbol in SYMBOLS:
            await eventually(lambda s=symbol: h.complete(s, Interval.M1, HISTORY))  # type: ignore[misc]
        await eventually(lambda: _polled_cycles(h, 3))
    for symbol in SYMBOLS:
        recorded = _KlineStartsRecorded.starts
        starts = sorted(start for s, _, start in recorded if s == symbol if start is not None)
        assert len(starts) >= 4
        assert starts[0] < venue.now() - (HISTORY - 2) * 60_000  # the whole history: the backfill
        assert starts[1] >= venue.now() - 3 * 60_000  # every other request: the last candles


async def _polled_cycles(h: Harness, cycles: int) -> bool:
    return all(poller.cycles >= cycles for poller in h.runner.pollers.values())
