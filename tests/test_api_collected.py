"""The API over data the collector wrote from the simulated Binance venue (not seeded by hand).

The collector fills Redis for three symbols, every channel and all eight intervals; the market is then
frozen, and every endpoint is read through the real app over HTTP and compared with what Redis holds:
each symbol spelling, each interval with cursor paging, trades paging, and the legacy ``/GetData/``
for all eight ``type`` values, page by page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from core.collector import Collector
from core.config import ApiConfig, AppConfig
from core.intervals import ALL_INTERVALS, LEGACY_MINUTE_CODES, Interval
from core.models import Channel, Kline, Trade
from core.store import StoreReader
from core.store.codec import decode
from tests.support.api_server import ThreadedApi
from tests.support.collector_e2e import E2E, PausableVenue, running_collector, wait_complete

binance_plugin = pytest.importorskip("exchanges.binance.plugin")

INSTANCE = "binance-sim"
SPEC = E2E(binance_plugin, "binance", INSTANCE, venue_options={"seed": 21, "symbols": 8, "kline_ms": 250})
HISTORY = 35  # candles backfilled per interval: several legacy pages, not a multiple of 10


@dataclass
class Collected:
    api: httpx.AsyncClient
    reader: StoreReader
    symbols: list[str]


@pytest.fixture
async def collected(redis_url: str) -> AsyncIterator[Collected]:
    async with SPEC.running_venue() as venue:
        symbols = await SPEC.trading_symbols(venue, redis_url, 3)
        config = SPEC.config(venue, redis_url, symbols, kline_history=HISTORY)
        config = AppConfig.model_validate(
            {
                **config.model_dump(mode="json", exclude={"api"}),
                "api": ApiConfig(legacy_instance=INSTANCE, stale_after=120).model_dump(mode="json"),
            }
        )
        collector = Collector(config, SPEC.host())
        async with StoreReader(redis_url) as reader, running_collector(collector) as task:
            async with asyncio.timeout(40):
                await wait_complete(reader, collector, task, INSTANCE, symbols)
            await freeze(venue)
            with ThreadedApi(config) as server:
                async with httpx.AsyncClient(base_url=server.url, timeout=10) as api:
                    yield Collected(api, reader, symbols)


async def freeze(venue: PausableVenue) -> None:
    """Stop the market and let the last updates reach Redis, so reads and answers agree."""
    await venue.pause()
    await asyncio.sleep(1.0)


def spellings(symbol: str) -> list[str]:
    base, quote = symbol.split("/")
    return [f"{base}-{quote}", f"{base}{quote}".lower(), f"{base}{quote}", f"{base}_{quote}".lower()]


async def get(api: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await api.get(path, params=params)
    assert response.status_code == 200, (path, response.text)
    return orjson.loads(response.content)


@pytest.mark.slow
async def test_every_endpoint_serves_what_the_collector_stored(collected: Collected) -> None:
    api, reader, symbols = collected.api, collected.reader, collected.symbols
    exchanges = await get(api, "/v1/exchanges")
    assert INSTANCE in [e["name"] for e in exchanges["data"]]
    markets = await get(api, f"/v1/exchanges/{INSTANCE}/markets")
    listed = {m["symbol"] for m in markets["data"]}
    assert set(symbols) <= listed
    for symbol in symbols:
        for spelling in spellings(symbol):
            for channel in (Channel.TICKER, Channel.QUOTE, Channel.PRICE):
                answer = await get(api, f"/v1/exchanges/{INSTANCE}/symbols/{spelling}/{channel.value}")
                stored = await reader.latest(INSTANCE, symbol, channel)
                assert stored is not None
                assert answer["data"] == orjson.loads(stored), (symbol, spelling, channel)
                assert answer["source"] == INSTANCE
                assert answer["symbol"] == symbol
                assert answer["receive_time"] == orjson.loads(stored)["receive_time"]
                assert answer["age_ms"] >= 0
                assert answer["stale"] is False
        depth = await get(api, f"/v1/exchanges/{INSTANCE}/symbols/{spelling}/depth", levels=5)
        stored_book = orjson.loads(await reader.latest(INSTANCE, symbol, Channel.DEPTH) or b"{}")
        assert depth["data"]["bids"] == stored_book["bids"][:5]
        assert depth["data"]["asks"] == stored_book["asks"][:5]
        bulk = await get(api, f"/v1/exchanges/{INSTANCE}/quotes", symbols=",".join(symbols))
        assert {item["symbol"] for item in bulk["data"]} == set(symbols)


@pytest.mark.slow
async def test_kline_pages_and_trade_pages_repeat_and_skip_nothing(collected: Collected) -> None:
    api, reader = collected.api, collected.reader
    symbol = collected.symbols[0]
    path = f"/v1/exchanges/{INSTANCE}/symbols/{symbol.replace('/', '-')}"
    for interval in ALL_INTERVALS:
        stored = [
            decode(v, Kline) for v in await reader.klines_range(INSTANCE, symbol, interval, limit=10_000)
        ]
        assert stored, interval
        seen: list[int] = []
        cursor: Any = None
        for _ in range(100):
            params: dict[str, Any] = {"interval": interval.value, "limit": 7}
            if cursor is not None:
                params["cursor"] = cursor
            page = await get(api, f"{path}/klines", **params)
            seen += [k["open_time"] for k in page["data"]]
            cursor = page.get("next_cursor")
            if cursor is None:
                break
        assert seen == sorted((k.open_time for k in stored), reverse=True), interval
    stored_trades = await reader.trades(INSTANCE, symbol, limit=1000)
    ids: list[str] = []
    cursor = None
    for _ in range(300):
        params = {"limit": 9} | ({"cursor": cursor} if cursor else {})
        page = await get(api, f"{path}/trades", **params)
        ids += [t["id"] for t in page["data"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert ids == [decode(t, Trade).id for t in stored_trades.items]


@pytest.mark.slow
async def test_legacy_getdata_pages_are_the_stored_candles(collected: Collected) -> None:
    api, reader = collected.api, collected.reader
    symbol = collected.symbols[0]
    code = symbol.replace("/", "").lower()
    for minutes in LEGACY_MINUTE_CODES:
        interval = Interval.from_minutes(minutes)
        stored = [
            decode(v, Kline) for v in await reader.klines_range(INSTANCE, symbol, interval, limit=10_000)
        ]
        newest_first = sorted(stored, key=lambda k: k.open_time, reverse=True)
        pages: list[list[dict[str, Any]]] = []
        for page in range(1, len(stored) // 10 + 3):
            pages.append(await get(api, "/GetData/", pageSize=page, type=minutes, code=code))
        served = [candle for page in pages for candle in page]
        assert all(len(p) == 10 for p in pages[: len(stored) // 10])
        assert pages[-1] == []
        assert [c["id"] for c in served] == [k.open_time // 1000 for k in newest_first], minutes
        assert [c["close"] for c in served] == [format(k.close, "f") for k in newest_first]
        assert [c["amount"] for c in served] == [format(k.volume, "f") for k in newest_first]
