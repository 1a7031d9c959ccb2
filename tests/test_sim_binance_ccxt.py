"""ccxt (REST) and ccxt.pro (websockets) against the simulated Binance venue, by URL override only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxtpro
import pytest

from core.intervals import ALL_INTERVALS
from exchanges.binance.sim import BinanceVenue
from tests.support.binance_sim import running_venue


def point_at(exchange: Any, venue: BinanceVenue) -> Any:
    """Override only the URLs ccxt uses for spot public data, and skip the private currency call."""
    urls = venue.base_urls()
    exchange.urls["api"]["public"] = urls["api"]
    if "ws" in exchange.urls["api"]:  # ccxt.pro only
        exchange.urls["api"]["ws"]["spot"] = urls["ws"]
    exchange.options["fetchCurrencies"] = False
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    return exchange


@pytest.fixture
async def venue() -> AsyncIterator[BinanceVenue]:
    async with running_venue() as started:
        yield started


@pytest.fixture
async def rest(venue: BinanceVenue) -> AsyncIterator[Any]:
    exchange = point_at(ccxt_async.binance(), venue)
    try:
        yield exchange
    finally:
        await exchange.close()


@pytest.fixture
async def pro(venue: BinanceVenue) -> AsyncIterator[Any]:
    exchange = point_at(ccxtpro.binance(), venue)
    try:
        yield exchange
    finally:
        await exchange.close()


async def test_load_markets(rest: Any) -> None:
    markets = await rest.load_markets()
    assert len(markets) == 50
    btc = markets["BTC/USDT"]
    assert btc["id"] == "BTCUSDT" and btc["spot"] and btc["active"]
    assert btc["precision"]["price"] == 0.1
    assert btc["limits"]["cost"]["min"] == 5.0
    assert {"ETH/BTC", "BNB/ETH", "BNB/BTC"} <= set(markets)


async def test_fetch_ticker_tickers_order_book_trades(rest: Any, venue: BinanceVenue) -> None:
    await rest.load_markets()
    ticker = await rest.fetch_ticker("BTC/USDT")
    assert ticker["symbol"] == "BTC/USDT" and ticker["last"] > 0 and ticker["bid"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    tickers = await rest.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
    every = await rest.fetch_tickers()
    assert len(every) == 50
    book = await rest.fetch_order_book("ETH/BTC", 100)
    assert len(book["bids"]) == 100 and book["bids"][0][0] < book["asks"][0][0]
    assert book["nonce"] <= venue.engine.market("ETHBTC").update_id
    trades = await rest.fetch_trades("BTC/USDT", limit=20)
    assert len(trades) == 20 and all(t["price"] > 0 and t["side"] in {"buy", "sell"} for t in trades)


@pytest.mark.parametrize("interval", [i.value for i in ALL_INTERVALS])
async def test_fetch_ohlcv_every_interval(rest: Any, interval: str) -> None:
    await rest.load_markets()
    candles = await rest.fetch_ohlcv("BTC/USDT", interval, limit=1000)
    assert len(candles) >= 600
    times = [c[0] for c in candles]
    assert times == sorted(times)
    for _, o, h, low, c, v in candles:
        assert low <= min(o, c) <= max(o, c) <= h and v >= 0
    since = candles[-50][0]
    page = await rest.fetch_ohlcv("BTC/USDT", interval, since=since, limit=10)
    assert page[0][0] == since


async def test_watch_ticker_trades_ohlcv(pro: Any) -> None:
    await pro.load_markets()
    async with asyncio.timeout(20):
        ticker = await pro.watch_ticker("BTC/USDT")
        assert ticker["symbol"] == "BTC/USDT" and ticker["last"] > 0
        trades = await pro.watch_trades("BTC/USDT")
        assert trades and all(t["symbol"] == "BTC/USDT" for t in trades)
        ids = [int(t["id"]) for t in trades]
        assert ids == sorted(ids)
        ohlcv = await pro.watch_ohlcv("BTC/USDT", "1m")
        assert ohlcv and ohlcv[-1][2] >= ohlcv[-1][3]


async def test_watch_order_book_stays_consistent_with_the_rest_snapshot(
    pro: Any, venue: BinanceVenue
) -> None:
    await pro.load_markets()
    async with asyncio.timeout(30):
        for _ in range(5):  # several diff batches applied on top of the snapshot
            book = await pro.watch_order_book("BTC/USDT")
        await venue.pause()
        final_id = venue.engine.market("BTCUSDT").update_id
        while book["nonce"] != final_id:
            book = await pro.watch_order_book("BTC/USDT")
    snapshot = venue.engine.snapshot("BTCUSDT", 50)
    assert book["bids"][:50] == [[p / 1e8, q / 1e8] for p, q in snapshot.bids]
    assert book["asks"][:50] == [[p / 1e8, q / 1e8] for p, q in snapshot.asks]
