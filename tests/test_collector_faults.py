"""Faults end to end: the collector against the simulated Binance venue while the venue misbehaves.

Each test runs the collector (instance ``binance-sim``, three symbols, every channel, all eight K-line
intervals) against the venue on loopback and a real Redis, switches one fault on through the venue's
admin API, waits until the collector noticed, switches it off and checks that

* the stored book equals the venue's REST book at the same ``lastUpdateId`` once the market stands still,
* no stored K-line series has a hole over the run,
* the collector task is still running (no crash, no restart),
* a warning names the instance or the symbol and says what happened.

The REST-only run over 50 symbols checks the budget from the venue's side: the weight it counted never
passed the instance's share of its limit, and it never answered 429 or 418.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import pluggy
import pytest

from core import hookspecs
from core.adapter import ExchangeAdapter
from core.capabilities import Capabilities, RateLimit
from core.clock import SYSTEM_CLOCK
from core.collector import Collector, InstanceRunner
from core.config import AppConfig
from core.errors import StorageError
from core.models import Channel, Kline, OrderBook, Trade
from core.plugins import PluginHost
from core.store import StoreReader
from core.store.codec import decode
from tests.support.redis_server import RedisServer

binance_plugin = pytest.importorskip("exchanges.binance.plugin")
from exchanges.binance.adapter import BinanceAdapter  # noqa: E402
from exchanges.binance.frames import StreamStats  # noqa: E402
from exchanges.binance.sim import BinanceVenue  # noqa: E402

pytestmark = pytest.mark.slow

INSTANCE = "binance-sim"
DEPTH = 10
VENUE = {"seed": 5, "symbols": 8, "rate": 400.0, "kline_ms": 200, "ticker_ms": 200}
WITHIN = 10.0
"""Seconds any one expected state change may take."""


# ---- running the collector -------------------------------------------------------------------------
def binance_host() -> PluginHost:
    """A plugin host with only the binance plugin (others may be mid-change in a shared tree)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(binance_plugin)
    return PluginHost(manager)


@dataclass
class Run:
    """One collector run against the venue."""

    venue: BinanceVenue
    collector: Collector
    task: asyncio.Task[None]
    reader: StoreReader
    symbols: list[str]
    natives: Mapping[str, str]
    started_ms: int

    @property
    def runner(self) -> InstanceRunner:
        return self.collector.runners[INSTANCE]

    @property
    def stats(self) -> StreamStats:
        """The stream counters of the adapter the runner streams through."""
        adapter = self.runner.supervisors[0].adapter
        assert isinstance(adapter, BinanceAdapter)
        return adapter.stream_stats

    def resyncs(self) -> int:
        return sum(self.stats.resyncs.values())

    def streaming(self) -> bool:
        state = self.runner.stream_state
        return state is not None and state.is_up

    def counter(self, name: str) -> int:
        return self.runner.metrics.counts[name]

    async def until(
        self, condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = WITHIN
    ) -> None:
        """Poll ``condition`` until it holds; fail naming ``what`` after ``within`` seconds."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            if self.task.done():
                self.task.result()
                pytest.fail("the collector stopped")
            with contextlib.suppress(StorageError):  # our reader, while Redis restarts
                result = condition()
                if result if isinstance(result, bool) else await result:
                    return
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"timed out after {within:g}s waiting for {what}")
            await asyncio.sleep(0.05)


def trading(venue: BinanceVenue, count: int) -> dict[str, str]:
    """``count`` trading markets of the venue: unified symbol → native id."""
    found = {
        f"{m.spec.base}/{m.spec.quote}": m.spec.symbol
        for m in venue.engine.markets.values()
        if m.spec.status == "TRADING"
    }
    return dict(itertools.islice(found.items(), count))


def app_config(
    venue: BinanceVenue, redis_url: str, symbols: list[str], *, stall_timeout: float = 30.0, **instance: Any
) -> AppConfig:
    urls = venue.instance_urls()
    exchange = {
        "name": INSTANCE, "plugin": "binance", "simulated": True, "symbols": symbols,
        "depth_levels": DEPTH, "kline_history": 20, "transport": "auto",
        "urls": {"rest": urls["rest"], "websocket": urls["websocket"]},
    }  # fmt: skip
    exchange.update(instance)
    return AppConfig.model_validate(
        {
            "redis": {"url": redis_url},
            "collector": {"flush_interval_ms": 10, "stall_timeout": stall_timeout},
            "exchanges": {INSTANCE: exchange},
        }
    )


@asynccontextmanager
async def venue_running(**options: Any) -> AsyncIterator[BinanceVenue]:
    venue = BinanceVenue(port=0, **{**VENUE, **options})
    await venue.start()
    try:
        yield venue
    finally:
        await venue.stop()


@asynccontextmanager
async def collecting(
    venue: BinanceVenue,
    redis_url: str,
    *,
    symbols: int = 3,
    adapter: type[ExchangeAdapter] | None = None,
    ready: bool = True,
    **options: Any,
) -> AsyncIterator[Run]:
    """Run the collector on ``symbols`` of the venue; with ``ready``, wait until it streams everything."""
    natives = trading(venue, symbols)
    collector = Collector(app_config(venue, redis_url, list(natives), **options), binance_host())
    if adapter is not None:
        collector.runners[INSTANCE].adapter_class = adapter
    async with StoreReader(redis_url) as reader:
        task = asyncio.create_task(collector.run(), name="collector-faults")
        run = Run(venue, collector, task, reader, list(natives), natives, SYSTEM_CLOCK.now_ms())
        try:
            if ready:
                await run.until(lambda: stream_ready(run), "the stream, the first backfill and every book")
            yield run
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def stream_ready(run: Run) -> bool:
    klines = run.runner.klines
    if not run.streaming() or klines is None:
        return False
    if Channel.KLINE in run.runner.channels and (klines.backfills_done < 1 or not klines.requests.empty()):
        return False
    books = await run.reader.latest_of([(INSTANCE, s) for s in run.symbols], Channel.DEPTH)
    return all(book is not None for book in books)


async def admin(venue: BinanceVenue, path: str, body: Mapping[str, Any]) -> Any:
    """POST to the venue's ``/_sim`` admin API."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{venue.base_urls()['admin']}/{path}", json=body) as r,
    ):
        assert r.status == 200, await r.text()
        return await r.json()


async def set_faults(venue: BinanceVenue, **faults: int) -> None:
    await admin(venue, "faults", {"reset": True, **faults})


# ---- what must hold after every fault --------------------------------------------------------------
async def assert_recovered(run: Run) -> None:
    """Stream back, books equal to the venue's at the same update id, K-lines without holes, task alive."""
    venue, reader = run.venue, run.reader
    await run.until(lambda: stream_ready(run), "the stream to be back with every book")
    # a diff lost just before the fault was cleared shows as a gap only when the next diff arrives:
    # let every book take at least one diff sent after the fault before the market is frozen
    before = await reader.latest_of([(INSTANCE, s) for s in run.symbols], Channel.DEPTH)
    seen = [decode(item, OrderBook).sequence if item else None for item in before]

    async def moved_on() -> bool:
        now = await reader.latest_of([(INSTANCE, s) for s in run.symbols], Channel.DEPTH)
        return all(
            item is not None and decode(item, OrderBook).sequence != old
            for item, old in zip(now, seen, strict=True)
        )

    await run.until(moved_on, "a depth update after the fault on every symbol")
    await venue.pause()
    paused_at = venue.clock.now_ms()

    async def caught_up() -> bool:
        # depth diffs, tickers and K-lines go out on timers the (now frozen) market loop drives: push
        # the pending ones as its next batch would have
        venue.hub.on_batch(venue.clock.now_ms())
        raw = await reader.latest_of([(INSTANCE, s) for s in run.symbols], Channel.DEPTH)
        for symbol, item in zip(run.symbols, raw, strict=True):
            market = venue.engine.markets[run.natives[symbol]]
            if item is None or decode(item, OrderBook).sequence != market.update_id:
                return False
        # a candle that opened just before the pause goes out with the next K-line push
        for symbol in run.symbols if Channel.KLINE in run.runner.channels else []:
            for interval in run.runner.intervals:
                newest = await reader.klines_range(INSTANCE, symbol, interval, limit=1, newest_first=True)
                if not newest or decode(newest[0], Kline).open_time < interval.open_time(paused_at):
                    return False
        return True

    await run.until(caught_up, "the stored books to reach the venue's last update id, the K-lines its minute")
    probe = BinanceAdapter(run.collector.config.exchanges[INSTANCE])
    async with probe:
        for symbol in run.symbols:
            want = await probe.fetch_depth(symbol, DEPTH)
            raw = await reader.latest(INSTANCE, symbol, Channel.DEPTH)
            assert raw is not None
            book = decode(raw, OrderBook)
            assert book.sequence == want.sequence, symbol
            assert (book.bids, book.asks) == (want.bids, want.asks), symbol
    for symbol in run.symbols:
        for interval in run.runner.intervals if Channel.KLINE in run.runner.channels else []:
            raw_klines = await reader.klines_range(INSTANCE, symbol, interval, limit=1000)
            opens = [decode(item, Kline).open_time for item in raw_klines]
            holes = [(a, b) for a, b in itertools.pairwise(opens) if interval.next_open_time(a) != b]
            assert not holes, f"{symbol} {interval.value}: holes after {holes}"
            assert opens[0] <= interval.open_time(run.started_ms), f"{symbol} {interval.value}"
            assert opens[-1] >= interval.open_time(paused_at), f"{symbol} {interval.value}"
    assert not run.task.done()


async def assert_in_stats_hash(run: Run, **at_least: int) -> None:
    """The instance's stats hash in Redis reaches ``at_least`` (the adapter's stream counters are read
    into it once a second; ``resyncs`` also counts K-line backfills)."""

    async def reached() -> bool:
        stats = await run.reader.stats(INSTANCE)
        return all(stats.get(name, 0) >= count for name, count in at_least.items())

    await run.until(reached, f"the stats hash to count {at_least}")


def warned(caplog: pytest.LogCaptureFixture, *words: str) -> list[str]:
    """Warnings (or worse) containing every one of ``words``."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and all(w in r.getMessage() for w in words)
    ]


def assert_no_crash(caplog: pytest.LogCaptureFixture) -> None:
    crashes = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not crashes, crashes


# ---- websocket faults ------------------------------------------------------------------------------
DEPTH_ONLY = {"symbols": 1, "channels": ["depth"]}
"""Only depth frames on the connection, so a frame held back is a depth diff overtaken by the next."""


@pytest.mark.parametrize(
    ("faults", "options"),
    [
        pytest.param({"drop_every": 7}, {}, id="dropped"),
        pytest.param({"reorder_every": 5}, DEPTH_ONLY, id="reordered"),
        pytest.param({"gap_every": 5}, {}, id="depth-gap"),
        pytest.param({"malformed_frame_every": 9}, {}, id="malformed-frame"),
    ],
)
async def test_lost_or_misordered_frames_resync_the_book(
    redis_url: str, caplog: pytest.LogCaptureFixture, faults: dict[str, int], options: dict[str, Any]
) -> None:
    async with venue_running() as venue, collecting(venue, redis_url, **options) as run:
        await set_faults(venue, **faults)
        await run.until(lambda: run.resyncs() >= 2, "depth resyncs")
        await set_faults(venue)
        await assert_recovered(run)
        assert run.counter("reconnects") == 0  # the book resynced on the same connection
        await assert_in_stats_hash(run, resyncs=run.resyncs(), malformed=run.stats.malformed.total())
    resynced = warned(caplog, "resyncing this symbol only")
    assert resynced and all(any(s in m for s in run.symbols) for m in resynced), resynced
    if "malformed_frame_every" in faults:
        assert warned(caplog, INSTANCE, "malformed frame")  # the instance, not just the plugin
        assert run.stats.malformed.total() >= 1
    assert_no_crash(caplog)


async def test_duplicated_frames_change_nothing(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with venue_running() as venue, collecting(venue, redis_url) as run:
        frames = run.stats.frames
        await set_faults(venue, duplicate_every=2)
        await run.until(lambda: run.stats.frames >= frames + 500, "500 frames, every other one twice")
        await set_faults(venue)
        await assert_recovered(run)
        assert run.resyncs() == 0  # a repeated diff is recognised as already applied
        assert run.counter("reconnects") == 0
        for symbol in run.symbols:
            page = await run.reader.trades(INSTANCE, symbol, limit=1000)
            ids = [decode(item, Trade).id for item in page.items]
            assert ids and len(ids) == len(set(ids)), symbol
    assert not warned(caplog, "resync")
    assert_no_crash(caplog)


async def test_a_gap_in_one_symbol_resyncs_that_symbol_only(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with venue_running() as venue, collecting(venue, redis_url) as run:
        gapped, *others = run.symbols
        await admin(venue, "inject", {"event": "gap", "symbol": run.natives[gapped]})
        await run.until(lambda: run.stats.snapshots[gapped] >= 2, f"a new snapshot of {gapped}")
        await assert_recovered(run)
        assert run.stats.resyncs[gapped] >= 1
        for symbol in others:
            assert run.stats.resyncs[symbol] == 0, symbol
            assert run.stats.snapshots[symbol] == 1, symbol
        assert run.counter("reconnects") == 0
    assert warned(caplog, f"{INSTANCE}: {gapped}: depth update", "resyncing this symbol only")
    assert not any(warned(caplog, symbol) for symbol in others)
    assert_no_crash(caplog)


async def test_disconnect_reconnects_and_backfills(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with venue_running() as venue, collecting(venue, redis_url) as run:
        await admin(venue, "inject", {"event": "disconnect"})
        await run.until(lambda: run.counter("reconnects") >= 1, "a reconnect")
        await assert_recovered(run)
    assert warned(caplog, INSTANCE, "stream lost", "reconnecting")
    assert_no_crash(caplog)


class OneSymbolPerConnection(BinanceAdapter):
    """Twelve streams a connection: one symbol's ticker, bookTicker, trade, depth and 8 K-lines."""

    max_streams_per_connection: ClassVar[int] = 12


async def test_a_lost_connection_reconnects_and_backfills_its_own_shard_only(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.collector.klines")
    async with (
        venue_running() as venue,
        collecting(venue, redis_url, adapter=OneSymbolPerConnection) as run,
    ):
        supervisors = run.runner.supervisors
        assert [{sub.symbol for sub in s.subscriptions} for s in supervisors] == [{s} for s in run.symbols]
        lost, kept = supervisors[1], [supervisors[0], supervisors[2]]
        lost_symbol = run.symbols[1]
        await admin(venue, "inject", {"event": "disconnect", "symbol": run.natives[lost_symbol]})
        await run.until(lambda: lost.sessions == 2, "the lost shard to reconnect")
        await assert_recovered(run)
        assert [s.sessions for s in kept] == [1, 1]  # the other connections never noticed
        assert run.counter("reconnects") == 1
        assert run.stats.snapshots[lost_symbol] == 2  # its book resynced, no other
        assert [run.stats.snapshots[s] for s in run.symbols if s != lost_symbol] == [1, 1]
    assert warned(caplog, f"{INSTANCE} shard 2/3", "stream lost", "reconnecting")
    backfills = [r.getMessage() for r in caplog.records if "backfilling K-lines" in r.getMessage()]
    assert any("of 8 series (stream shard 2/3 reconnected" in m for m in backfills), backfills
    assert_no_crash(caplog)


async def test_stall_is_detected_and_reconnected(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with venue_running() as venue, collecting(venue, redis_url, stall_timeout=1.0) as run:
        await set_faults(venue, stall_after=1)  # the open connection goes silent at its next frame
        await run.until(lambda: run.counter("reconnects") >= 1, "the stall watchdog")
        await set_faults(venue)
        await assert_recovered(run)
    assert warned(caplog, INSTANCE, "stream lost", "StallError")
    assert_no_crash(caplog)


# ---- REST faults -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("faults", "evidence"),
    [
        pytest.param({"http_error_every": 1, "http_error_status": 429}, "rate-limited (429)", id="429"),
        pytest.param({"http_error_every": 1, "http_error_status": 418}, "banned (418)", id="418"),
        pytest.param({"http_error_every": 1, "http_error_status": 503}, "503", id="5xx"),
        pytest.param({"malformed_every": 1}, "not JSON", id="malformed-body"),
    ],
)
async def test_rest_failures_while_the_stream_is_down(
    redis_url: str, caplog: pytest.LogCaptureFixture, faults: dict[str, int], evidence: str
) -> None:
    """The stream drops while REST fails: pollers, snapshots and backfill fail; all recover after."""
    async with venue_running() as venue, collecting(venue, redis_url) as run:
        await set_faults(venue, **faults)
        await admin(venue, "inject", {"event": "disconnect"})
        await run.until(lambda: bool(warned(caplog, INSTANCE, evidence)), f"a warning saying {evidence!r}")
        await set_faults(venue)
        await assert_recovered(run)
    assert_no_crash(caplog)


# ---- Redis -----------------------------------------------------------------------------------------
async def test_redis_restart_is_rewritten_and_backfilled(
    redis_url: str, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with venue_running() as venue, collecting(venue, redis_url) as run:
        writer = run.collector.writer
        try:
            redis_server.stop()
            await run.until(lambda: writer.stats.failures >= 1, "a failed flush")
        finally:
            if not redis_server.running:
                redis_server.start()
        await run.until(lambda: writer.stats.resets >= 1, "the writer to notice the empty Redis")
        klines = run.runner.klines
        assert klines is not None
        await run.until(lambda: klines.backfills_done >= 2, "the full backfill")
        await assert_recovered(run)
        assert await run.reader.markets(INSTANCE), "the market list is rewritten"
    assert warned(caplog, "redis lost its data")
    assert_no_crash(caplog)


# ---- REST only, 50 symbols, within the budget ------------------------------------------------------
WEIGHT_LIMIT = 1200
SHARE = 0.8


class LowLimitBinance(BinanceAdapter):
    """Binance as the venue runs it here: REQUEST_WEIGHT 1200 a minute."""

    capabilities: ClassVar[Capabilities] = BinanceAdapter.capabilities.model_copy(
        update={"rate_limit": RateLimit(unit="weight", limit=WEIGHT_LIMIT, window_seconds=60.0)}
    )


async def test_rest_only_50_symbols_stay_within_the_share_of_the_weight_limit(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        venue_running(symbols=50, faults={"weight_limit": WEIGHT_LIMIT}) as venue,
        collecting(
            venue, redis_url, symbols=50, adapter=LowLimitBinance, ready=False,
            transport="rest", rate_limit_share=SHARE,
        ) as run,
    ):  # fmt: skip
        assert len(run.symbols) == 50
        limiter = venue.rest.limiter
        # until the instance's budget is spent and it has been waiting a while for the window to roll
        await run.until(lambda: run.counter("rest_weight") >= WEIGHT_LIMIT * SHARE * 0.9, "the budget spent")
        await asyncio.sleep(2.0)
        assert run.runner.plan is not None and not run.runner.plan.fits
        assert limiter.peak_used <= WEIGHT_LIMIT * SHARE, limiter.peak_used
        assert 429 not in venue.rest.statuses and 418 not in venue.rest.statuses, venue.rest.statuses
        assert not limiter.refused
        assert run.runner.limiter is not None and run.runner.limiter.waits >= 1
        assert not run.task.done()
    assert warned(caplog, INSTANCE, "does not fit")
    assert not warned(caplog, "rate-limited")
    assert_no_crash(caplog)


async def test_depth_snapshots_count_against_the_budget(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The stream's book snapshots go through the instance's limiter: 50 symbols x a 500-level
    snapshot (weight 25) is 1,250 weight, more than the 960 share of 1,200, so some books wait for
    the next window instead of the venue answering 429."""
    async with (
        venue_running(symbols=50, faults={"weight_limit": WEIGHT_LIMIT}) as venue,
        collecting(
            venue, redis_url, symbols=50, adapter=LowLimitBinance, ready=False,
            rate_limit_share=SHARE, channels=["depth"], depth_levels=100,
        ) as run,
    ):  # fmt: skip
        limiter = venue.rest.limiter
        await run.until(lambda: run.counter("rest_weight") >= WEIGHT_LIMIT * SHARE * 0.9, "the budget spent")
        await asyncio.sleep(2.0)
        assert limiter.peak_used <= WEIGHT_LIMIT * SHARE, limiter.peak_used
        assert 429 not in venue.rest.statuses and 418 not in venue.rest.statuses, venue.rest.statuses
        assert run.runner.limiter is not None and run.runner.limiter.waits >= 1
        books = await run.reader.latest_of([(INSTANCE, s) for s in run.symbols], Channel.DEPTH)
        synced = sum(book is not None for book in books)
        assert 0 < synced < 50, synced  # the first books are live; the rest wait for budget
        assert not run.task.done()
    assert not warned(caplog, "rate-limited")
    assert_no_crash(caplog)


async def test_the_budget_follows_the_limit_the_venue_publishes(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """exchangeInfo's REQUEST_WEIGHT (here 2,400 a minute, not the documented 6,000) sets the budget."""
    caplog.set_level(logging.INFO)
    async with (
        venue_running(symbols=5, faults={"weight_limit": 2400}) as venue,
        collecting(venue, redis_url, symbols=5, ready=False, rate_limit_share=SHARE) as run,
    ):
        await run.until(lambda: run.runner.plan is not None, "the REST plan")
        assert run.runner.limiter is not None and run.runner.limiter.budget == 2400 * SHARE
        assert run.runner.plan is not None and run.runner.plan.budget_per_minute == 2400 * SHARE
    logged = [r.getMessage() for r in caplog.records if "publishes 2,400 weight per 60s" in r.getMessage()]
    assert logged, "the adopted limit is logged"
