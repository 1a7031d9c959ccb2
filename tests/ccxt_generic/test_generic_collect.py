"""The generic ``ccxt`` plugin through the collector: ``ccxt_id: binance`` and then ``ccxt_id: htx``,
pointed at the simulated venues, fill the same Redis keys as the native adapters for every channel
the ccxt class supports."""

from __future__ import annotations

import asyncio

import pytest

from core.collector import Collector
from core.config import AppConfig
from core.intervals import Interval
from core.models import Channel
from core.plugins import PluginHost
from core.store import KeySchema, StoreReader
from exchanges.ccxt_generic.adapter import GenericCcxtAdapter
from tests.support.collector_e2e import E2E, running_collector
from tests.support.plugins import load_host

binance_plugin = pytest.importorskip("exchanges.binance.plugin")
huobi_plugin = pytest.importorskip("exchanges.huobi.plugin")

VENUES = {
    "binance": E2E(binance_plugin, "binance", "unused", venue_options={"seed": 5, "symbols": 8}),
    "htx": E2E(huobi_plugin, "huobi", "unused", venue_options={"seed": 6, "symbols": 8}),
}
INTERVALS = [Interval.M1, Interval.H1, Interval.D1]
LATEST = (Channel.TICKER, Channel.QUOTE, Channel.PRICE, Channel.DEPTH)


def generic_config(ccxt_id: str, urls: dict[str, str], redis_url: str, symbols: list[str]) -> AppConfig:
    instance = {
        "plugin": "ccxt", "ccxt_id": ccxt_id, "simulated": True, "symbols": symbols,
        "intervals": [i.value for i in INTERVALS], "depth_levels": 10, "kline_history": 20,
        "transport": "rest", "poll_interval": 0.5, "urls": urls,
    }  # fmt: skip
    return AppConfig.model_validate(
        {
            "redis": {"url": redis_url},
            "collector": {"flush_interval_ms": 10},
            "exchanges": {f"generic-{ccxt_id}": {"name": f"generic-{ccxt_id}", **instance}},
        }
    )


@pytest.mark.slow
@pytest.mark.parametrize("ccxt_id", ["binance", "htx"])
async def test_generic_adapter_fills_the_same_keys(ccxt_id: str, redis_url: str) -> None:
    spec = VENUES[ccxt_id]
    host: PluginHost = load_host()
    async with spec.running_venue() as venue:
        symbols = ["BTC/USDT", "ETH/BTC"]
        urls = dict(venue.instance_urls())
        config = generic_config(ccxt_id, urls, redis_url, symbols)
        instance = f"generic-{ccxt_id}"
        collector = Collector(config, host)
        supported = set(GenericCcxtAdapter.for_exchange(ccxt_id).capabilities.channels)
        assert {Channel.TICKER, Channel.DEPTH, Channel.TRADES, Channel.KLINE} <= supported
        keys = KeySchema()
        async with StoreReader(redis_url) as reader, running_collector(collector) as task:
            wanted = [keys.latest(instance, s, c) for s in symbols for c in LATEST if c in supported]
            wanted += [keys.trades(instance, s) for s in symbols]
            wanted += [keys.klines(instance, s, i) for s in symbols for i in INTERVALS]
            async with asyncio.timeout(40):
                while True:
                    assert not task.done(), "the collector stopped"
                    present = [bool(await reader.client.exists(k)) for k in wanted]
                    if all(present):
                        break
                    await asyncio.sleep(0.2)
            registry = (await reader.instances())[instance]
            assert registry["plugin"] == "ccxt"
            assert await reader.market_symbols(instance)
            fresh = await reader.freshness(instance)
            for symbol in symbols:
                assert f"{symbol.replace('/', '-')}:price" in fresh or Channel.PRICE not in supported
