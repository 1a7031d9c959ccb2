"""The huobi adapter against the simulated HTX venue over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from core.adapter import Subscription
from core.config import InstanceConfig
from core.errors import TransientError, UnknownSymbolError
from core.intervals import ALL_INTERVALS
from core.models import Channel, OrderBook, Record
from exchanges.huobi.adapter import HuobiAdapter
from exchanges.huobi.plugin import quotewire_adapters, quotewire_venues
from exchanges.huobi.sim import HuobiVenue

SYMBOL = "BTC/USDT"


@pytest.fixture
async def venue() -> AsyncIterator[HuobiVenue]:
    async with HuobiVenue(symbols=12, ping_interval=0.3) as running:
        yield running


@pytest.fixture
async def adapter(venue: HuobiVenue) -> AsyncIterator[HuobiAdapter]:
    config = InstanceConfig(
        name="huobi-sim",
        plugin="huobi",
        urls=venue.instance_urls(),
        options={"heartbeat_timeout": 1.5},
    )
    async with HuobiAdapter(config) as opened:
        yield opened


async def collect(
    adapter: HuobiAdapter, subs: Sequence[Subscription], until: Any, limit: int = 2000
) -> list[Record]:
    records: list[Record] = []
    stream = adapter.stream(subs)
    try:
        async with asyncio.timeout(15):
            async for batch in stream:
                records.extend(batch)
                if until(records) or len(records) > limit:
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return records


def test_plugin_hooks() -> None:
    assert quotewire_adapters() == {"huobi": HuobiAdapter}
    assert HuobiAdapter.legacy and HuobiAdapter.capabilities.utc_offset_ms == 8 * 3_600_000
    assert "huobi" in quotewire_venues()


async def test_rest_channels_and_all_intervals(adapter: HuobiAdapter, venue: HuobiVenue) -> None:
    markets = await adapter.load_markets()
    btc = next(m for m in markets if m.symbol == SYMBOL)
    assert btc.native_id == "btcusdt" and str(btc.price_increment) == "0.1"
    ticker = await adapter.fetch_ticker(SYMBOL)
    quote = await adapter.fetch_quote(SYMBOL)
    assert quote.bid < quote.ask and ticker.last > 0
    assert (await adapter.fetch_price(SYMBOL)).price > 0
    assert len(await adapter.fetch_tickers([SYMBOL, "ETH/USDT"])) == 2
    book = await adapter.fetch_depth(SYMBOL, 10)
    assert len(book.bids) == 10 and book.bids[0][0] < book.asks[0][0]
    assert await adapter.fetch_trades(SYMBOL, 10)
    for interval in ALL_INTERVALS:
        candles = await adapter.fetch_klines(SYMBOL, interval, limit=3)
        assert len(candles) == 3, interval
        assert candles[-1].open_time == interval.open_time(candles[-1].open_time, 8 * 3_600_000)
        assert candles[-1].trades is not None and candles[-1].quote_volume is not None
    first = (await adapter.fetch_klines(SYMBOL, ALL_INTERVALS[0], limit=5))[0]
    again = await adapter.fetch_klines(SYMBOL, ALL_INTERVALS[0], start_ms=first.open_time, limit=2)
    assert again[0].open_time == first.open_time and again[0].close == first.close


async def test_unknown_symbol_envelope_maps(adapter: HuobiAdapter) -> None:
    await adapter.load_markets()
    with pytest.raises(UnknownSymbolError):
        await adapter.fetch_klines("NOPE/USDT", ALL_INTERVALS[0])
    with pytest.raises(UnknownSymbolError):  # the venue's "invalid symbol" envelope
        await adapter.call(adapter.exchange.spotPublicGetMarketDetail, {"symbol": "nosuch"})


async def test_every_stream_channel_and_interval(adapter: HuobiAdapter) -> None:
    subs = [Subscription(c, SYMBOL) for c in Channel if c is not Channel.KLINE]
    subs += [Subscription(Channel.KLINE, SYMBOL, i) for i in ALL_INTERVALS]

    def complete(records: list[Record]) -> bool:
        return len({(getattr(r, "channel", None), getattr(r, "interval", None)) for r in records}) == 13

    records = await collect(adapter, subs, complete)
    assert complete(records)
    assert adapter.stream_stats.pings >= 0


async def test_depth_stream_resyncs_one_symbol_after_a_gap(adapter: HuobiAdapter, venue: HuobiVenue) -> None:
    venue.faults.update({"gap_every": 5})
    subs = [Subscription(Channel.DEPTH, SYMBOL), Subscription(Channel.DEPTH, "ETH/USDT")]

    def resynced(records: list[Record]) -> bool:
        return adapter.stream_stats.resyncs.get(SYMBOL, 0) >= 1 and len(records) > 20

    records = await collect(adapter, subs, resynced)
    assert adapter.stream_stats.resyncs.get(SYMBOL, 0) >= 1
    books = [r for r in records if isinstance(r, OrderBook) and r.symbol == SYMBOL]
    assert books and all(b.bids[0][0] < b.asks[0][0] for b in books)
    assert [b.sequence for b in books] == sorted(b.sequence or 0 for b in books) or len(books) > 1


async def test_depth_stream_matches_the_venue_book(adapter: HuobiAdapter, venue: HuobiVenue) -> None:
    records = await collect(adapter, [Subscription(Channel.DEPTH, SYMBOL)], lambda r: len(r) >= 10)
    book = records[-1]
    assert isinstance(book, OrderBook)
    view = venue.hub.views[("BTCUSDT", 20)]
    if book.sequence == view.seq:
        best = max(view.bids)
        assert book.bids[0][0] * 10**8 == best


async def test_lost_heartbeat_raises_transient(adapter: HuobiAdapter, venue: HuobiVenue) -> None:
    venue.faults.update({"no_heartbeat": 1})
    with pytest.raises(TransientError, match="heartbeat"):
        await collect(adapter, [Subscription(Channel.QUOTE, SYMBOL)], lambda r: False, limit=10**9)


async def test_malformed_gzip_frame_is_skipped(adapter: HuobiAdapter, venue: HuobiVenue) -> None:
    venue.faults.update({"malformed_gzip_every": 3})
    records = await collect(adapter, [Subscription(Channel.QUOTE, SYMBOL)], lambda r: len(r) >= 10)
    assert len(records) >= 10
    assert adapter.stream_stats.malformed >= 1


async def test_disconnect_raises_transient(adapter: HuobiAdapter, venue: HuobiVenue) -> None:
    venue.faults.update({"disconnect_after": 3})
    with pytest.raises(TransientError):
        await collect(adapter, [Subscription(Channel.QUOTE, SYMBOL)], lambda r: False, limit=10**9)


async def test_a_record_that_fails_to_parse_is_skipped(
    adapter: HuobiAdapter, venue: HuobiVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bbo with an empty ask side (an illiquid book) is skipped; the stream and the others go on."""
    from exchanges.huobi.sim import codec

    real = codec.bbo_tick
    sent_empty = 0

    def every_other_without_asks(market: Any, ts: int) -> dict[str, Any]:
        nonlocal sent_empty
        tick = real(market, ts)
        if tick["seqId"] % 2:
            sent_empty += 1
            return {**tick, "ask": None, "askSize": None}
        return tick

    monkeypatch.setattr(codec, "bbo_tick", every_other_without_asks)
    records = await collect(adapter, [Subscription(Channel.QUOTE, SYMBOL)], lambda r: len(r) >= 10)
    assert len(records) >= 10
    assert sent_empty >= 1
    assert adapter.stream_stats.malformed >= 1
