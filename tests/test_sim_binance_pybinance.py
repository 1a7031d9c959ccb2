"""python-binance's AsyncClient and socket manager against the simulated Binance venue (URL override only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException

from exchanges.binance.sim import BinanceVenue
from tests.support.binance_sim import running_venue


@pytest.fixture
async def venue() -> AsyncIterator[BinanceVenue]:
    async with running_venue() as started:
        yield started


@pytest.fixture
async def client(venue: BinanceVenue) -> AsyncIterator[Any]:
    client = AsyncClient()  # AsyncClient.create() would ping the real API first
    client.API_URL = venue.base_urls()["rest"] + "/api"
    try:
        yield client
    finally:
        await client.close_connection()


async def test_rest_calls(client: Any) -> None:
    assert await client.ping() == {}
    assert (await client.get_server_time())["serverTime"] > 0
    info = await client.get_exchange_info()
    assert len(info["symbols"]) == 50
    book = await client.get_order_book(symbol="BTCUSDT", limit=50)
    assert len(book["bids"]) == 50 and book["bids"][0][0] < book["asks"][0][0]
    klines = await client.get_klines(symbol="ETHBTC", interval="1d", limit=100)
    assert len(klines) == 100 and len(klines[0]) == 12
    ticker = await client.get_ticker(symbol="BNBETH")
    assert ticker["symbol"] == "BNBETH"
    assert len(await client.get_recent_trades(symbol="BTCUSDT", limit=10)) == 10
    assert len(await client.get_aggregate_trades(symbol="BTCUSDT", limit=10)) == 10
    assert (await client.get_avg_price(symbol="BTCUSDT"))["mins"] == 5
    assert (await client.get_symbol_ticker(symbol="ETHUSDT"))["symbol"] == "ETHUSDT"
    assert (await client.get_orderbook_ticker(symbol="ETHUSDT"))["symbol"] == "ETHUSDT"


async def test_errors_become_binance_api_exceptions(client: Any) -> None:
    with pytest.raises(BinanceAPIException) as caught:
        await client.get_order_book(symbol="NOPEUSDT")
    assert caught.value.code == -1121 and caught.value.status_code == 400


async def test_socket_manager_streams(client: Any, venue: BinanceVenue) -> None:
    manager = BinanceSocketManager(client)
    manager.STREAM_URL = venue.base_urls()["websocket"] + "/"
    async with asyncio.timeout(15):
        async with manager.trade_socket("BTCUSDT") as socket:
            trade = await socket.recv()
        assert trade["e"] == "trade" and trade["s"] == "BTCUSDT"
        async with manager.multiplex_socket(["btcusdt@bookTicker", "ethbtc@aggTrade"]) as socket:
            frame = await socket.recv()
        assert frame["stream"] in {"btcusdt@bookTicker", "ethbtc@aggTrade"}
