"""Switching exchanges is a configuration change: the same plugins.yaml with ``binance-sim`` swapped for
``huobi-sim`` (the legacy HTX plugin on its simulated venue) collects into the new instance name, and
the API serves it — the legacy ``/GetData/`` from the instance ``api.legacy_instance`` names — with no
code changed."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.collector import Collector
from core.config import load_config
from core.intervals import Interval
from core.models import Channel, Kline
from core.plugins import PluginHost
from core.store import StoreReader
from core.store.codec import decode
from core.venue import SimulatedVenue
from tests.contract.conftest import contract_host
from tests.support.api_server import ThreadedApi

TEMPLATE = """
redis: {{url: "{redis}"}}
exchanges:
  {name}:
    plugin: {plugin}
    simulated: true
    urls: {{rest: "{rest}", websocket: "{websocket}"}}
    symbols: [BTC/USDT]
    channels: [ticker, quote, depth, kline]
    intervals: [1m]
    kline_history: {history}
    transport: rest
    poll_interval: 0.5
collector: {{flush_interval_ms: 10}}
api: {{legacy_instance: {name}}}
"""
HISTORY = 20


async def collect_once(path: Path, host: PluginHost, instance: str, redis_url: str) -> None:
    """Run the collector on ``path`` until the instance's BTC/USDT ticker and 1m history are stored."""
    config = load_config(path, plugins=host.adapters)
    task = asyncio.create_task(Collector(config, host).run(), name="collector")
    try:
        async with StoreReader(redis_url) as reader, asyncio.timeout(30):
            while (
                await reader.latest(instance, "BTC/USDT", Channel.TICKER) is None
                or await reader.kline_count(instance, "BTC/USDT", Interval.M1) < HISTORY
            ):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def running(host: PluginHost, name: str, seed: int) -> SimulatedVenue:
    venue = host.venues[name](seed=seed, symbols=6)
    await venue.start()
    return venue


async def test_swapping_the_instance_in_plugins_yaml_switches_the_exchange(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUOTEWIRE_REDIS_URL", raising=False)
    host = contract_host()
    assert "huobi" in host.adapters and "huobi" in host.venues, "the huobi plugin and its venue are built in"
    path = tmp_path / "plugins.yaml"
    # different seeds: the two venues' candle histories differ, so /GetData/ shows which one it reads
    plan = [("binance-sim", "binance", 5), ("huobi-sim", "huobi", 6)]
    for name, plugin, seed in plan:
        venue = await running(host, plugin, seed)
        try:
            urls = venue.instance_urls()
            path.write_text(
                TEMPLATE.format(
                    redis=redis_url, name=name, plugin=plugin, history=HISTORY,
                    rest=urls["rest"], websocket=urls["websocket"],
                ),
                encoding="utf-8",
            )  # fmt: skip
            await collect_once(path, host, name, redis_url)
        finally:
            await venue.stop()
    config = load_config(path, plugins=host.adapters)
    assert config.api.legacy_instance == "huobi-sim"
    async with StoreReader(redis_url) as reader:
        newest = {name: await legacy_page(reader, name) for name, _, _ in plan}
    assert newest["huobi-sim"] != newest["binance-sim"]
    with ThreadedApi(config) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            listed = (await client.get("/v1/exchanges")).json()["data"]
            ticker = await client.get("/v1/exchanges/huobi-sim/symbols/BTC-USDT/ticker")
            old = await client.get("/v1/exchanges/binance-sim/symbols/BTC-USDT/ticker")
            legacy = await client.get("/GetData/", params={"pageSize": 1, "type": 1, "code": "btcusdt"})
    plugins = {item["name"]: item["meta"].get("plugin") for item in listed}
    assert plugins["binance-sim"] == "binance" and plugins["huobi-sim"] == "huobi"
    assert ticker.status_code == 200, ticker.text
    assert ticker.json()["data"]["instance"] == "huobi-sim"
    assert old.status_code == 200  # what the first instance collected stays readable under its name
    assert legacy.status_code == 200, legacy.text
    assert legacy.json() == newest["huobi-sim"]


async def legacy_page(reader: StoreReader, instance: str) -> list[dict[str, Any]]:
    """The first ``/GetData/`` page of BTC/USDT 1m as stored for ``instance``: ten candles, newest first."""
    rows = await reader.klines_range(instance, "BTC/USDT", Interval.M1, limit=10, newest_first=True)
    candles = [decode(row, Kline) for row in rows]
    return [
        {
            "id": k.open_time // 1000, "open": str(k.open), "close": str(k.close), "low": str(k.low),
            "high": str(k.high), "amount": str(k.volume), "vol": str(k.quote_volume), "count": k.trades,
        }
        for k in candles
    ]  # fmt: skip
