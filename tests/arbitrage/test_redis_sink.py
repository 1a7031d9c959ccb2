"""The observer wired to Redis: the plugin builds a store-backed sink; stale legs get flagged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from core.arbitrage import (
    ArbitrageObserver,
    ArbitrageSettings,
    MemorySink,
    Opportunity,
    RedisOpportunitySink,
)
from core.config import InstanceConfig
from core.plugins import PluginHost
from core.store import StoreReader, StoreWriter
from tests.arbitrage.support import INSTANCE, FixedClock, market, quote

FEE = Decimal("0.001")
FORWARD = "BTC/USDT:buy,ETH/BTC:buy,ETH/USDT:sell"
MARKETS = [market("BTC/USDT"), market("ETH/BTC"), market("ETH/USDT"), market("LTC/USDT")]


def mispriced(time: int = 1_000_000) -> list[object]:
    return [
        quote("BTC/USDT", "99.9", "5", "100", "1", time),
        quote("ETH/BTC", "0.0999", "500", "0.1", "100", time),
        quote("ETH/USDT", "11", "100", "11.01", "500", time),
    ]


@pytest.fixture
async def writer(redis_url: str) -> AsyncIterator[StoreWriter]:
    async with StoreWriter(redis_url, flush_interval=3600) as w:
        yield w


def test_legs_that_stop_updating_flag_the_opportunity_once() -> None:
    clock = FixedClock(1_000_000)
    sink = MemorySink()
    settings = ArbitrageSettings(taker_fee=FEE, stale_after_ms=5000)
    observer = ArbitrageObserver(INSTANCE, settings, sink=sink, clock=clock, stale_check=1.0)
    observer.on_markets(MARKETS)
    observer.on_records(mispriced())  # type: ignore[arg-type]
    assert [o.stale for o in sink.opportunities(INSTANCE)] == [False]
    clock.now += 4_000
    observer.on_records([quote("LTC/USDT", "50", "1", "50.1", "1", clock.now)])  # another market
    assert [o.stale for o in sink.opportunities(INSTANCE)] == [False]
    clock.now += 2_000
    observer.on_records([quote("LTC/USDT", "50", "1", "50.1", "1", clock.now)])
    found = sink.opportunities(INSTANCE)
    assert [o.stale for o in found] == [True]
    assert found[0].detected_at == 1_000_000 and found[0].net_return == Decimal("0.0967032989")
    events = len(sink.events)
    clock.now += 2_000
    observer.on_records([quote("LTC/USDT", "50", "1", "50.1", "1", clock.now)])
    assert len(sink.events) == events  # flagged once, not on every batch


async def test_plugin_writes_opportunities_to_the_collectors_store(
    redis_url: str, writer: StoreWriter
) -> None:
    host = PluginHost.load()  # the arbitrage entry point is installed
    config = InstanceConfig(name=INSTANCE, plugin="binance")
    found = [
        o for o in host.observers(INSTANCE, "binance", config, writer) if isinstance(o, ArbitrageObserver)
    ]
    assert len(found) == 1 and isinstance(found[0].sink, RedisOpportunitySink)
    observer = found[0]
    observer.on_markets(MARKETS)
    observer.on_records(mispriced())  # type: ignore[arg-type]
    assert observer.deferred and observer.engine.opportunities() == []  # evaluated at the flush…
    await writer.flush()  # …and written by it
    async with StoreReader(redis_url) as reader:
        stored = [Opportunity.model_validate_json(d) for d in await reader.opportunities(INSTANCE)]
        assert [(o.id, o.net_return, o.size) for o in stored] == [
            (FORWARD, Decimal("0.0967032989"), Decimal(100))
        ]
        observer.on_records([quote("ETH/USDT", "10", "100", "10.01", "500")])  # the cycle closes
        await writer.flush()
        assert await reader.opportunities(INSTANCE) == []


def test_without_a_store_the_plugin_keeps_opportunities_in_memory() -> None:
    host = PluginHost.load()  # the arbitrage entry point is installed
    found = [o for o in host.observers(INSTANCE, "binance") if isinstance(o, ArbitrageObserver)]
    assert len(found) == 1 and isinstance(found[0].sink, MemorySink)
    disabled = InstanceConfig(name=INSTANCE, plugin="binance", options={"arbitrage": {"enabled": False}})
    assert not [o for o in host.observers(INSTANCE, "binance", disabled) if isinstance(o, ArbitrageObserver)]
