"""The adapter contract: the same checks for every installed adapter, each on its simulated venue."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest

from core.adapter import ExchangeAdapter, Subscription
from core.ccxt_adapter import decimal_places
from core.collector.metrics import COUNTERS
from core.config import InstanceConfig
from core.errors import NotSupportedError, UnknownSymbolError
from core.intervals import ALL_INTERVALS
from core.models import ALL_CHANNELS, Channel, Kline, Market, OrderBook, Price, Quote, Record, Ticker, Trade
from tests.contract.conftest import Case, instance_config

DAY_MS = 86_400_000


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket nobody should connect to."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture
async def adapter(
    adapter_class: type[ExchangeAdapter], config: InstanceConfig
) -> AsyncIterator[ExchangeAdapter]:
    async with adapter_class(config) as opened:
        yield opened


@pytest.fixture
async def symbol(adapter: ExchangeAdapter) -> str:
    """A trading symbol of the venue (BTC/USDT when listed)."""
    trading = [m.symbol for m in await adapter.load_markets() if m.status == "trading"]
    return "BTC/USDT" if "BTC/USDT" in trading else trading[0]


def check_record(record: Record, adapter: ExchangeAdapter, symbol: str, before: int) -> None:
    assert record.instance == adapter.instance
    assert record.symbol == symbol
    assert before <= record.receive_time <= adapter.clock.now_ms()
    if record.event_time is not None:
        assert abs(record.receive_time - record.event_time) < DAY_MS


async def test_init_does_no_io(
    case: Case, adapter_class: type[ExchangeAdapter], listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    urls = {"rest": f"http://127.0.0.1:{port}", "websocket": f"ws://127.0.0.1:{port}"}
    adapter_class(instance_config(case, urls))
    adapter_class(instance_config(case, {"rest": "http://192.0.2.1:9", "websocket": "ws://192.0.2.1:9"}))
    await asyncio.sleep(0.05)
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing connected


async def test_context_manager_opens_and_closes_cleanly(
    adapter_class: type[ExchangeAdapter], config: InstanceConfig
) -> None:
    adapter = adapter_class(config)
    async with adapter as opened:
        assert opened is adapter
        await opened.load_markets()
    await adapter.close()  # a second close is harmless
    async with adapter:  # and it can be opened again
        await adapter.load_markets()


def test_capabilities_are_declared_and_consistent(
    adapter_class: type[ExchangeAdapter], config: InstanceConfig
) -> None:
    caps = adapter_class(config).capabilities
    assert caps.channels
    assert caps.channels <= set(ALL_CHANNELS)
    assert caps.stream_channels <= caps.channels
    assert caps.intervals
    assert set(caps.intervals) <= set(ALL_INTERVALS)
    assert all(d > 0 for d in caps.depth_levels)
    assert caps.rate_limit is not None
    assert caps.rate_limit.limit > 0
    assert abs(caps.utc_offset_ms) < DAY_MS


async def test_load_markets_returns_normalized_markets(adapter: ExchangeAdapter) -> None:
    markets = await adapter.load_markets()
    assert markets
    assert any(m.status == "trading" for m in markets)
    for market in markets:
        assert isinstance(market, Market)
        assert market.instance == adapter.instance
        assert market.symbol == f"{market.base}/{market.quote}"
        assert market.symbol == market.symbol.upper()
        for increment, places in (
            (market.price_increment, market.price_precision),
            (market.amount_increment, market.amount_precision),
        ):
            assert increment is None or (isinstance(increment, Decimal) and increment > 0)
            if increment is not None and places is not None:
                assert decimal_places(increment) <= places


async def test_every_declared_channel_fetches_valid_records(adapter: ExchangeAdapter, symbol: str) -> None:
    caps = adapter.capabilities
    before = adapter.clock.now_ms()
    if Channel.TICKER in caps.channels:
        ticker = await adapter.fetch_ticker(symbol)
        assert isinstance(ticker, Ticker)
        assert ticker.event_time is not None
        assert ticker.last > 0
        check_record(ticker, adapter, symbol, before)
    if Channel.QUOTE in caps.channels:
        quote = await adapter.fetch_quote(symbol)
        assert isinstance(quote, Quote)
        assert 0 < quote.bid < quote.ask
        check_record(quote, adapter, symbol, before)
    if Channel.PRICE in caps.channels:
        price = await adapter.fetch_price(symbol)
        assert isinstance(price, Price)
        assert price.price > 0
        check_record(price, adapter, symbol, before)
    if Channel.DEPTH in caps.channels:
        book = await adapter.fetch_depth(symbol, 5)
        assert isinstance(book, OrderBook)
        assert 0 < len(book.bids) <= 5
        assert 0 < len(book.asks) <= 5
        assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
        assert [p for p, _ in book.asks] == sorted(p for p, _ in book.asks)
        assert book.bids[0][0] < book.asks[0][0]
        check_record(book, adapter, symbol, before)
    if Channel.TRADES in caps.channels:
        trades = await adapter.fetch_trades(symbol, 20)
        assert trades
        assert all(isinstance(t, Trade) and t.event_time is not None for t in trades)
        assert [t.event_time for t in trades] == sorted(t.event_time or 0 for t in trades)
        for trade in trades:
            check_record(trade, adapter, symbol, before)


async def test_klines_for_every_declared_interval_are_aligned(adapter: ExchangeAdapter, symbol: str) -> None:
    caps = adapter.capabilities
    if Channel.KLINE not in caps.channels:
        pytest.skip("the adapter declares no kline channel")
    before = adapter.clock.now_ms()
    for interval in caps.intervals:
        klines = await adapter.fetch_klines(symbol, interval, limit=3)
        assert klines, interval
        opens = [k.open_time for k in klines]
        assert opens == sorted(set(opens)), interval
        for kline in klines:
            assert isinstance(kline, Kline)
            assert kline.interval is interval
            assert kline.open_time == interval.open_time(kline.open_time, caps.utc_offset_ms), interval
            assert kline.low <= min(kline.open, kline.close) <= max(kline.open, kline.close) <= kline.high
            check_record(kline, adapter, symbol, before)


async def test_an_unknown_symbol_is_an_unknown_symbol_error(adapter: ExchangeAdapter, symbol: str) -> None:
    with pytest.raises(UnknownSymbolError):
        await adapter.fetch_ticker("NOPE/USDT")


async def test_streams_yield_records_or_are_not_supported(adapter: ExchangeAdapter, symbol: str) -> None:
    caps = adapter.capabilities
    if not caps.stream_channels:
        with pytest.raises(NotSupportedError):
            await anext(aiter(adapter.stream([Subscription(Channel.TICKER, symbol)])))
        return
    subs = [
        Subscription(c, symbol, caps.intervals[0] if c is Channel.KLINE else None)
        for c in caps.stream_channels
    ]
    seen: set[Channel] = set()
    stream = adapter.stream(subs)
    try:
        async with asyncio.timeout(45):
            async for batch in stream:
                for record in batch:
                    assert record.instance == adapter.instance
                    seen.add(record.channel)  # type: ignore[attr-defined]
                if seen >= caps.stream_channels:
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    assert seen >= caps.stream_channels
    counted = adapter.stream_counters()
    assert set(counted) <= set(COUNTERS) and all(n >= 0 for n in counted.values()), counted
