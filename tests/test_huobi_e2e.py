"""End to end: the collector, the legacy ``huobi`` adapter and the simulated HTX venue on loopback, and
real Redis.

The collector runs one ``huobi-sim`` instance for a few symbols, every channel and all eight
intervals; Redis db 2 must then hold all of it, fresh, and equal to what the venue serves (daily and
longer candles opening at midnight UTC+8). Each fault the venue injects — a ``seqNum`` gap, a lost
heartbeat, a disconnect, a frame that is not gzip, error answers on REST — must leave the collector
running with nothing lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from core.collector import Collector, InstanceRunner
from core.config import AppConfig
from core.intervals import ALL_INTERVALS, Interval
from core.store import StoreReader
from core.store.writer import DEFAULT_KLINE_RETENTION
from tests.support.collector_e2e import (
    E2E,
    PausableVenue,
    assert_no_kline_holes,
    backfill_idle,
    compare_with_venue,
    kline_opens,
    running_collector,
    streaming,
    until,
    wait_complete,
)

huobi_plugin = pytest.importorskip("exchanges.huobi.plugin")
from exchanges.huobi.adapter import HuobiAdapter  # noqa: E402
from exchanges.huobi.sim import HuobiVenue  # noqa: E402
from exchanges.huobi.streams import StreamStats  # noqa: E402

INSTANCE = "huobi-sim"
HTX = E2E(
    huobi_plugin,
    "huobi",
    INSTANCE,
    venue_options={"seed": 11, "symbols": 8, "ping_interval": 0.5},
)
HEARTBEAT_TIMEOUT = 2.0
"""The adapter's heartbeat timeout in these tests (the venue pings every 0.5 s)."""


@dataclass
class Setup:
    """A running venue, and the configuration of an instance collecting three of its symbols."""

    venue: HuobiVenue
    redis_url: str
    symbols: list[str]
    config: AppConfig


@pytest.fixture
async def setup(redis_url: str) -> AsyncIterator[Setup]:
    async with HTX.running_venue() as venue:
        assert isinstance(venue, HuobiVenue)
        symbols = await HTX.trading_symbols(venue, redis_url, 3)
        yield Setup(venue, redis_url, symbols, instance_config(venue, redis_url, symbols, history=1000))


def instance_config(venue: PausableVenue, redis_url: str, symbols: list[str], *, history: int) -> AppConfig:
    """``huobi-sim``: every channel and interval of ``symbols``, ``history`` candles backfilled."""
    options = {"heartbeat_timeout": HEARTBEAT_TIMEOUT}
    return HTX.config(venue, redis_url, symbols, kline_history=history, options=options)


@pytest.mark.slow
async def test_collector_fills_redis_with_fresh_htx_data(setup: Setup) -> None:
    collector = Collector(setup.config, HTX.host())
    runner = collector.runners[INSTANCE]
    async with StoreReader(setup.redis_url) as reader, running_collector(collector) as task:
        async with asyncio.timeout(30):
            await wait_complete(reader, collector, task, INSTANCE, setup.symbols)
        assert streaming(runner) and runner.intervals == list(ALL_INTERVALS)
        # 1,000 monthly candles reach back before 1970: the backfill asks from the epoch instead, and
        # the series holds all the venue has (up to the store's retention)
        adapter = HTX.adapter_class()(setup.config.exchanges[INSTANCE])
        async with adapter:
            for symbol in setup.symbols:
                history = await adapter.fetch_klines(symbol, Interval.MO1, start_ms=0, limit=1000)
                months = await kline_opens(reader, INSTANCE, symbol, Interval.MO1)
                kept = min(len(history), DEFAULT_KLINE_RETENTION[Interval.MO1])
                assert months == [k.open_time for k in history[-kept:]]
        assert runner.metrics.counts["errors"] == 0
        await assert_no_kline_holes(reader, INSTANCE, setup.symbols, HTX.utc_offset_ms)
        await compare_with_venue(setup.venue, reader, HTX, setup.config, setup.symbols, collector)
        assert not task.done()
    stats = await reader_stats(setup.redis_url)
    assert stats["messages"] > 0 and stats["records"] > 0


async def reader_stats(redis_url: str) -> dict[str, int]:
    async with StoreReader(redis_url) as reader:
        return dict(await reader.stats(INSTANCE))


# ---- faults -------------------------------------------------------------------------------------
@dataclass
class Running:
    """A collector that caught up with the venue, and what a fault test reads from it."""

    setup: Setup
    collector: Collector
    reader: StoreReader
    task: asyncio.Task[None]

    @property
    def runner(self) -> InstanceRunner:
        return self.collector.runners[INSTANCE]

    @property
    def stats(self) -> StreamStats:
        """The adapter's websocket counters (malformed frames, resyncs per symbol)."""
        adapter = self.runner.supervisors[0].adapter
        assert isinstance(adapter, HuobiAdapter)
        return adapter.stream_stats

    def count(self, counter: str) -> int:
        return self.runner.metrics.counts.get(counter, 0)

    async def until(self, condition: Callable[[], bool]) -> None:
        await until(condition, self.task)

    async def stats_reach(self, **at_least: int) -> None:
        """Wait until the instance's stats hash in Redis counts ``at_least`` (the adapter's stream
        counters are read into it once a second)."""
        async with asyncio.timeout(10):
            while True:
                stats = await self.reader.stats(INSTANCE)
                if all(stats.get(name, 0) >= count for name, count in at_least.items()):
                    return
                await asyncio.sleep(0.05)

    async def post_faults(self, faults: dict[str, Any]) -> None:
        """Set faults through the venue's admin endpoint (``{}`` or ``None`` values: reset)."""
        url = f"{self.setup.venue.instance_urls()['rest']}/_sim/faults"
        async with aiohttp.ClientSession() as http, http.post(url, json=faults) as response:
            assert response.status == 200, await response.text()

    async def recovered(self) -> None:
        """Streaming again, every series fresh and gap-free, and Redis equal to the venue.

        Every channel and interval must be updated after the fault was lifted: a frame lost just
        before is only noticed with the next one (the next ``prevSeqNum``, the next candle update).
        """
        lifted = self.collector.clock.now_ms()
        async with asyncio.timeout(20):
            await self.until(lambda: streaming(self.runner))
            await wait_complete(
                self.reader, self.collector, self.task, INSTANCE, self.setup.symbols, since_ms=lifted
            )
            await self.until(lambda: backfill_idle(self.runner))
        await assert_no_kline_holes(self.reader, INSTANCE, self.setup.symbols, HTX.utc_offset_ms)
        await compare_with_venue(
            self.setup.venue, self.reader, HTX, self.setup.config, self.setup.symbols, self.collector
        )
        assert not self.task.done(), "the collector stopped"


@pytest.fixture
async def running(setup: Setup, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Running]:
    caplog.set_level(logging.INFO)
    setup.symbols = setup.symbols[:2]  # fewer REST calls: HTX allows 100 per 10 s
    config = setup.config = instance_config(setup.venue, setup.redis_url, setup.symbols, history=100)
    collector = Collector(config, HTX.host())
    async with StoreReader(setup.redis_url) as reader, running_collector(collector) as task:
        async with asyncio.timeout(30):
            await wait_complete(reader, collector, task, INSTANCE, setup.symbols)
            await until(lambda: streaming(collector.runners[INSTANCE]), task)
        yield Running(setup, collector, reader, task)


def logged(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.WARNING) -> list[str]:
    """Messages at ``level`` or above that contain ``text``."""
    return [r.getMessage() for r in caplog.records if r.levelno >= level and text in r.getMessage()]


@pytest.mark.slow
async def test_seqnum_gap_resyncs_the_book(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    reconnects = running.count("reconnects")
    await running.post_faults({"gap_every": 7})
    async with asyncio.timeout(10):
        await running.until(lambda: sum(running.stats.resyncs.values()) >= 1)
    await running.post_faults({"reset": True})
    resynced = set(running.stats.resyncs)
    assert resynced <= set(running.setup.symbols)
    await running.recovered()
    assert running.count("reconnects") == reconnects  # the connection stayed; only the book was re-requested
    await running.stats_reach(resyncs=sum(running.stats.resyncs.values()) + 1)  # + the K-line backfill
    for symbol in resynced:
        assert logged(caplog, f"{INSTANCE}: {symbol}: seqNum gap, resyncing")


@pytest.mark.slow
async def test_lost_heartbeat_reconnects(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    running.setup.venue.faults.update({"no_heartbeat": 1})
    async with asyncio.timeout(10):
        await running.until(lambda: running.count("reconnects") >= 1)
    running.setup.venue.faults.update({"reset": True})
    await running.recovered()
    assert logged(caplog, f"heartbeat lost (no ping for {HEARTBEAT_TIMEOUT:.1f} s)")
    assert logged(caplog, "backfilling K-lines of 16 series (stream reconnected", logging.INFO)


@pytest.mark.slow
async def test_disconnect_reconnects_and_backfills(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    done = _backfills(running)
    running.setup.venue.disconnect_all()
    async with asyncio.timeout(10):
        await running.until(lambda: running.count("reconnects") >= 1 and _backfills(running) > done)
    await running.recovered()
    assert logged(caplog, "the venue closed the websocket")
    assert logged(caplog, "stream up", logging.INFO)


@pytest.mark.slow
async def test_malformed_gzip_frames_are_skipped(running: Running, caplog: pytest.LogCaptureFixture) -> None:
    await running.post_faults({"malformed_gzip_every": 40})
    async with asyncio.timeout(10):
        await running.until(lambda: running.stats.malformed >= 3)
    await running.post_faults({"reset": True})
    await running.recovered()
    assert running.count("reconnects") == 0  # the connection survived every broken frame
    await running.stats_reach(malformed=running.stats.malformed)
    assert logged(caplog, f"{INSTANCE}: skipping a malformed frame")


@pytest.mark.slow
async def test_rest_error_envelopes_are_mapped_and_retried(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    done, errors = _backfills(running), running.count("errors")
    await running.post_faults({"error_envelope_every": 2, "http_error_every": 5, "malformed_every": 7})
    running.setup.venue.disconnect_all()  # REST takes over, then a backfill
    async with asyncio.timeout(10):
        await running.until(lambda: running.count("errors") >= errors + 3)
    await running.post_faults({"reset": True})
    async with asyncio.timeout(15):
        await running.until(lambda: _backfills(running) > done)
    await running.recovered()
    envelopes = logged(caplog, "gateway-internal-error")
    assert envelopes and all("TransientError" in m for m in envelopes)  # ccxt's ExchangeNotAvailable, mapped
    assert not logged(caplog, "Traceback", logging.DEBUG)


def _backfills(running: Running) -> int:
    klines = running.runner.klines
    return 0 if klines is None else klines.backfills_done
