"""An outside package adds an exchange: the example in ``tests/thirdparty_adapter`` is pip-installed,
quotewire finds it through its entry point, and the collector fills the store through it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.collector import Collector
from core.config import parse_config
from core.intervals import Interval
from core.models import Channel
from core.plugins import PluginHost
from core.store import StoreReader
from core.venue import SimulatedVenue
from tests.support.thirdparty import EXAMPLE_DIR, ensure_example_installed

LATEST = (Channel.TICKER, Channel.QUOTE, Channel.PRICE, Channel.DEPTH)
ADAPTER_MODULE = EXAMPLE_DIR / "quotewire_paperex" / "adapter.py"


@pytest.fixture(scope="session")
def host() -> PluginHost:
    """The plugin host after the example package was installed like any third-party package."""
    ensure_example_installed()
    return PluginHost.load()  # no extra plugins: only entry points


@pytest.fixture
async def paperex(host: PluginHost) -> AsyncIterator[SimulatedVenue]:
    venue = host.venues["paperex"](seed=7, symbols=8)
    await venue.start()
    yield venue
    await venue.stop()


@pytest.fixture
def no_redis_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUOTEWIRE_REDIS_URL", raising=False)


def test_the_entry_point_makes_the_adapter_and_venue_known(host: PluginHost) -> None:
    adapter = host.adapter("paperex")
    assert adapter.__module__ == "quotewire_paperex.adapter"
    assert adapter.plugin_name == "paperex"
    assert "paperex" in host.venues
    assert Path(__import__(adapter.__module__).__file__ or "").parent == ADAPTER_MODULE.parent


def test_the_example_adapter_module_is_under_150_lines() -> None:
    lines = ADAPTER_MODULE.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 150


async def test_collecting_through_the_example_fills_the_store(
    host: PluginHost, paperex: SimulatedVenue, redis_url: str, no_redis_env: None
) -> None:
    config = parse_config(
        f"""
        redis: {{url: "{redis_url}"}}
        exchanges:
          paper-1:
            plugin: paperex
            urls: {{rest: "{paperex.instance_urls()["rest"]}"}}
            symbols: {{quote: [USDT], limit: 2}}
            intervals: [1m, 1h]
            depth_levels: 5
            poll_interval: 1.0
            kline_history: 10
        collector: {{flush_interval_ms: 10}}
        """,
        plugins=host.adapters,
    )
    task = asyncio.create_task(Collector(config, host).run(), name="collector")
    try:
        async with StoreReader(redis_url) as reader, asyncio.timeout(30):
            while True:
                markets = await reader.market_symbols("paper-1")
                symbol = "BTC/USDT" if "BTC/USDT" in markets else (markets or [""])[0]
                latest = [await reader.latest("paper-1", symbol, c) for c in LATEST] if symbol else []
                candles = await reader.kline_count("paper-1", symbol, Interval.M1) if symbol else 0
                trades = (await reader.trades("paper-1", symbol, limit=5)).items if symbol else []
                if latest and all(latest) and candles >= 10 and trades:
                    break
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert symbol
    assert b'"instance":"paper-1"' in latest[0]  # type: ignore[operator]
