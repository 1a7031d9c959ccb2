"""A connection that fell behind skips the quotes and tickers that later frames replace, and keeps
everything else: :func:`conflate`, and the reader against a raw venue on loopback that sends a burst."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson
import pytest

from core.adapter import Subscription
from core.clock import SYSTEM_CLOCK
from core.models import Channel, Market, Quote, Record, Trade
from exchanges.binance.frames import StreamStats, conflate
from exchanges.binance.parsers import BinanceParser, DepthSnapshot
from exchanges.binance.streams import StreamSession, plan_streams
from tests.support.endless_ws import burst_venue

BTC = Market(instance="t", symbol="BTC/USDT", native_id="BTCUSDT", base="BTC", quote="USDT", receive_time=0)


def quote(n: int, symbol: str = "btcusdt") -> bytes:
    data = {"u": n, "s": symbol.upper(), "b": f"{100 + n}.10", "B": "1.5", "a": f"{101 + n}.20", "A": "2"}
    return orjson.dumps({"stream": f"{symbol}@bookTicker", "data": data})


def trade(n: int) -> bytes:
    data = {
        "e": "trade",
        "E": n,
        "s": "BTCUSDT",
        "t": n,
        "p": "100.5",
        "q": "0.1",
        "T": n,
        "m": True,
        "M": True,
    }
    return orjson.dumps({"stream": "btcusdt@trade", "data": data})


def ticker(n: int) -> bytes:
    return orjson.dumps({"stream": "btcusdt@ticker", "data": {"e": "24hrTicker", "E": n, "s": "BTCUSDT"}})


def depth(n: int) -> bytes:
    return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "U": n, "u": n}})


def kline(n: int) -> bytes:
    return orjson.dumps({"stream": "btcusdt@kline_1m", "data": {"e": "kline", "E": n}})


def test_only_replaced_quotes_and_tickers_are_skipped() -> None:
    frames = [quote(1), trade(2), quote(3, "ethusdt"), ticker(4), quote(5), depth(6), kline(7), kline(8)]
    frames += [ticker(9), b'{"result":null,"id":1}', quote(10), depth(11)]
    stats = StreamStats()
    kept = conflate(frames, stats)
    expected = [trade(2), quote(3, "ethusdt"), depth(6), kline(7), kline(8), *frames[8:10], quote(10)]
    assert kept == [*expected, depth(11)]
    assert stats.conflated == 3  # quote 1, quote 5, ticker 4


def test_text_frames_conflate_like_binary_ones() -> None:
    frames: list[str | bytes] = [quote(1).decode(), quote(2).decode(), "not json", trade(3).decode()]
    stats = StreamStats()
    assert conflate(frames, stats) == frames[1:]
    assert stats.conflated == 1


async def no_snapshot(symbol: str, limit: int, urgent: bool) -> DepthSnapshot:
    raise AssertionError(symbol)


async def read_burst(payloads: list[bytes], backlog: int) -> tuple[list[Record], StreamStats]:
    """Every record a stream session makes of ``payloads``, sent at once by a venue on loopback."""
    server = await asyncio.start_server(burst_venue(payloads), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    stats = StreamStats()
    session = StreamSession(
        base_url=f"ws://127.0.0.1:{port}",
        parser=BinanceParser("t", [BTC]),
        fetch_snapshot=no_snapshot,
        depth_levels=5,
        clock=SYSTEM_CLOCK,
        stats=stats,
        conflate_backlog=backlog,
    )
    subscriptions = [Subscription(Channel.QUOTE, BTC.symbol), Subscription(Channel.TRADES, BTC.symbol)]
    stream = session.run(plan_streams(subscriptions, {BTC.symbol: BTC.native_id}))
    records: list[Record] = []
    try:
        async with asyncio.timeout(20):
            async for batch in stream:
                records += batch
                if stats.frames + stats.conflated == len(payloads):
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        server.close()
    return records, stats


QUOTES = 1200


def burst() -> list[bytes]:
    """Quotes with rising prices, and a trade after every fourth."""
    payloads: list[bytes] = []
    for n in range(QUOTES):
        payloads.append(quote(n))
        if n % 4 == 3:
            payloads.append(trade(n))
    return payloads


async def test_a_reader_behind_skips_replaced_quotes_and_keeps_every_trade(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records, stats = await read_burst(burst(), backlog=16)
    quotes = [r for r in records if isinstance(r, Quote)]
    trades = [r for r in records if isinstance(r, Trade)]
    assert stats.conflated > 0
    assert len(quotes) + stats.conflated == QUOTES
    assert quotes[-1].bid == Decimal(f"{100 + QUOTES - 1}.10")  # the newest quote is never skipped
    assert [q.bid for q in quotes] == sorted(q.bid for q in quotes)  # in order
    assert [t.id for t in trades] == [str(n) for n in range(3, QUOTES, 4)]
    assert stats.malformed == {}
    said = [r.getMessage() for r in caplog.records if "fell behind" in r.getMessage()]
    assert len(said) == 1  # once a minute at most, however many batches
    assert said[0].startswith("t: a connection fell behind")


@pytest.mark.parametrize("backlog", [0, 100_000])
async def test_every_frame_is_kept_when_conflation_is_off_or_never_reached(backlog: int) -> None:
    records, stats = await read_burst(burst(), backlog=backlog)
    assert stats.conflated == 0
    assert len([r for r in records if isinstance(r, Quote)]) == QUOTES
    assert len([r for r in records if isinstance(r, Trade)]) == QUOTES // 4
