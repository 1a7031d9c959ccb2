"""End to end: the collector, the Binance adapter and the simulated Binance venue on loopback, real Redis.

The collector runs one ``binance-sim`` instance for a few symbols; Redis db 2 must then hold, for every
symbol, every channel and all eight K-line intervals, fresh, and equal to what the venue serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from core.collector import Collector
from core.intervals import ALL_INTERVALS, Interval
from core.models import Channel, Kline, Trade
from core.store import StoreReader
from core.store.codec import decode
from tests.support.collector_e2e import (
    E2E,
    PausableVenue,
    backfilled,
    compare_with_venue,
    running_collector,
    stale_series,
    streaming,
    until,
    wait_complete,
)

binance_plugin = pytest.importorskip("exchanges.binance.plugin")

INSTANCE = "binance-sim"
BINANCE = E2E(
    binance_plugin,
    "binance",
    INSTANCE,
    venue_options={"seed": 11, "symbols": 8, "kline_ms": 250, "ticker_ms": 250},
)


@pytest.fixture
async def venue() -> AsyncIterator[PausableVenue]:
    host = BINANCE.host()
    if "binance" not in host.venues or "binance" not in host.adapters:
        pytest.skip("the binance adapter or venue is not installed")
    async with BINANCE.running_venue() as started:
        yield started


@pytest.mark.slow
async def test_collector_fills_redis_with_fresh_venue_data(venue: PausableVenue, redis_url: str) -> None:
    async with StoreReader(redis_url) as reader:
        symbols = await BINANCE.trading_symbols(venue, redis_url, 3)
        # The sim's books are dense (one-cent steps on ETH/USDT at ~3,500): the first 100-level
        # snapshot spans about a dollar, which the market crosses within a run. The books must be
        # refreshed before the served levels reach levels the snapshot never showed (this failed
        # 1 run in ~40 before books knew their snapshot's edge).
        config = BINANCE.config(venue, redis_url, symbols)
        collector = Collector(config, BINANCE.host())
        async with running_collector(collector) as task:
            async with asyncio.timeout(60):
                await wait_complete(reader, collector, task, INSTANCE, symbols)
            runner = collector.runners[INSTANCE]
            assert runner.stream_state is not None and runner.stream_state.is_up
            for symbol in symbols:
                for interval in ALL_INTERVALS:
                    assert await reader.kline_count(INSTANCE, symbol, interval) >= 1
            await compare_with_venue(venue, reader, BINANCE, config, symbols, collector)
        stats = await reader.stats(INSTANCE)
        assert stats["messages"] > 0 and stats["records"] > 0


async def stored_trade_ids(reader: StoreReader, symbol: str) -> list[int]:
    """The ids of the stored trades of ``symbol``, oldest first."""
    page = await reader.trades(INSTANCE, symbol, limit=10_000)
    return [int(decode(item, Trade).id) for item in reversed(page.items)]


@pytest.mark.slow
async def test_server_shutdown_is_handed_over_to_a_new_connection_without_a_gap(
    venue: PausableVenue, redis_url: str
) -> None:
    """The collector opens a new connection on ``serverShutdown`` while the old one still delivers: no
    reconnect, no backfill, no resync, every series fresh, and not one trade missing."""
    [symbol] = await BINANCE.trading_symbols(venue, redis_url, 1)
    config = BINANCE.config(venue, redis_url, [symbol])
    collector = Collector(config, BINANCE.host())
    runner = collector.runners[INSTANCE]
    async with StoreReader(redis_url) as reader:
        task = asyncio.create_task(collector.run(), name="collector-e2e")
        try:
            async with asyncio.timeout(60):
                await until(lambda: streaming(runner) and backfilled(runner))
                before = await stored_trade_ids(reader, symbol)
                while not before:  # Redis has no event to wait on
                    await asyncio.sleep(0.05)
                    before = await stored_trade_ids(reader, symbol)
                counts = runner.metrics.counts
                await until(lambda: counts["depth_snapshots"] >= 1)  # (synced every second)
                snapshots = counts["depth_snapshots"]
                venue.server_shutdown(close_after_ms=200)  # type: ignore[attr-defined]
                await until(lambda: counts["renewals"] >= 1, task)  # (synced every second)
                await asyncio.sleep(1.0)  # past the old connection's close
                assert not await stale_series(reader, INSTANCE, [symbol], collector.clock.now_ms(), 1500)
            assert counts["reconnects"] == 0 and counts["renewals"] == 1 and streaming(runner)
            assert backfilled(runner, 1) and not backfilled(runner, 2)  # no second backfill
            assert counts["depth_snapshots"] == snapshots
            ids = [i for i in await stored_trade_ids(reader, symbol) if i >= before[-1]]
            assert len(ids) > 1 and ids == list(range(before[-1], before[-1] + len(ids)))
            for interval in ALL_INTERVALS:
                raw = await reader.klines_range(INSTANCE, symbol, interval, limit=1000)
                opens = [decode(item, Kline).open_time for item in raw]
                assert all(interval.next_open_time(a) == b for a, b in itertools.pairwise(opens))
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.slow
async def test_quotewire_collect_stops_cleanly_on_sigterm(
    venue: PausableVenue, redis_url: str, tmp_path: Path
) -> None:
    urls = venue.instance_urls()
    config_file = tmp_path / "plugins.yaml"
    config_file.write_text(
        yaml.safe_dump({
            "redis": {"url": redis_url},
            "exchanges": {INSTANCE: {
                "plugin": "binance", "simulated": True, "symbols": ["BTC/USDT"], "kline_history": 20,
                "channels": ["price", "kline"], "intervals": ["1m"],
                "urls": {"rest": urls["rest"], "websocket": urls["websocket"]},
            }},
        })
    )  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quotewire.cli", "collect", "--config", str(config_file),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with StoreReader(redis_url) as reader, asyncio.timeout(60):
            while (
                await reader.latest(INSTANCE, "BTC/USDT", Channel.PRICE) is None
                or await reader.kline_count(INSTANCE, "BTC/USDT", Interval.M1) < 20
            ):
                assert process.returncode is None, "the collector exited early"
                await asyncio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            _, stderr = await process.communicate()
            assert process.returncode == 0, stderr.decode()
            assert b"SIGTERM received; stopping" in stderr
            assert b"Traceback" not in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
