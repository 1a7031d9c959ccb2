"""HTX parsers on the real payloads and doc examples in ``shared/fixtures/htx``: exact decimals."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.errors import BadResponseError, SequenceGapError, UnknownSymbolError
from core.intervals import Interval
from exchanges.huobi import parsers
from exchanges.huobi.book import MbpBook
from exchanges.huobi.codec import loads, unpack

KW: dict[str, Any] = {"instance": "huobi", "symbol": "BTC/USDT", "receive_time": 1_700_000_000_000}


def load(fixtures_dir: Path, name: str) -> Any:
    return loads((fixtures_dir / "htx" / name).read_bytes())


def test_detail_merged_keeps_the_exact_number_text(fixtures_dir: Path) -> None:
    ticker = parsers.ticker(load(fixtures_dir, "rest_market_detail_merged.json"), **KW)
    assert ticker.last == Decimal("49820.92")
    assert ticker.quote_volume == Decimal("598561868.5709001")
    assert ticker.volume == Decimal("12055.365781937457")
    assert (ticker.bid, ticker.bid_size, ticker.ask) == (
        Decimal("49819.48"),
        Decimal("2.58112"),
        Decimal("49819.49"),
    )
    assert ticker.change == Decimal("49820.92") - Decimal("50080.0")


def test_ws_detail_and_bbo(fixtures_dir: Path) -> None:
    ticker = parsers.ticker(load(fixtures_dir, "ws_detail.json"), **KW)
    assert str(ticker.last) == "10195.00" and ticker.event_time == 1494497082831
    quote = parsers.quote(load(fixtures_dir, "ws_bbo.json"), **KW)
    assert (str(quote.bid), str(quote.ask_size)) == ("16829.5", "0.707776")
    assert quote.event_time == 1671941599612


def test_trade_detail_oldest_first_with_public_ids(fixtures_dir: Path) -> None:
    trades = parsers.trades(load(fixtures_dir, "ws_trade_detail.json"), **KW)
    assert [t.id for t in trades] == ["100039973211", "100039973212"]
    assert trades[0].price == Decimal("0.051598") and trades[0].side == "sell"
    rest = parsers.trades(load(fixtures_dir, "rest_market_trade.json"), **KW)
    assert [t.id for t in rest] == ["102517374387", "102517374388"]
    assert parsers.last_price(rest).price == Decimal("49806.0")


def test_klines_rest_and_ws(fixtures_dir: Path) -> None:
    rows = parsers.klines(load(fixtures_dir, "rest_market_history_kline.json"), interval=Interval.M5, **KW)
    assert [k.open_time for k in rows] == [1629768900000, 1629769200000]
    assert rows[1].close == Decimal("49025.51") and rows[1].quote_volume == Decimal("193489.67275732")
    assert rows[1].trades == 196 and rows[1].close_time == 1629769499999
    tick = load(fixtures_dir, "ws_kline.json")["tick"]
    candle = parsers.kline(tick, interval=Interval.M1, **KW)
    assert str(candle.volume) == "0.0" and candle.open == Decimal("7962.62")


def test_daily_candles_close_at_utc8_midnight() -> None:
    tick = {"id": 1629734400, "open": 1, "high": 1, "low": 1, "close": 1, "amount": 0, "vol": 0}  # 16:00 UTC
    candle = parsers.kline(tick, interval=Interval.D1, **KW)
    assert candle.close_time == 1629734400000 + 86_400_000 - 1


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("rest_error_invalid_symbol.json", UnknownSymbolError),
        ("rest_error_base_symbol_error.json", UnknownSymbolError),
        ("rest_error_request_limit.json", BadResponseError),
        ("ws_error_bad_request.json", BadResponseError),
    ],
)
def test_error_envelopes(fixtures_dir: Path, name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parsers.check(load(fixtures_dir, name), "huobi", "BTC/USDT")


def test_gzip_frames_decode_and_broken_frames_raise(fixtures_dir: Path) -> None:
    frames = json.loads((fixtures_dir / "htx" / "ws_raw_gzip_frames_base64.json").read_text())["frames"]
    for frame in frames:
        raw = base64.b64decode(frame["gzip_base64"])
        assert unpack(raw) == loads(frame["decoded"])
        with pytest.raises(BadResponseError):
            unpack(raw[: len(raw) // 2])
    trade = unpack(base64.b64decode(frames[2]["gzip_base64"]))
    assert trade["tick"]["data"][0]["price"] == Decimal("0.051598")


def test_mbp_book_snapshot_then_chain(fixtures_dir: Path) -> None:
    snapshot = load(fixtures_dir, "ws_mbp_req_response.json")["data"]
    book = MbpBook("BTC/USDT")
    increment = {
        "seqNum": snapshot["seqNum"] + 1,
        "prevSeqNum": snapshot["seqNum"],
        "bids": [],
        "asks": [[Decimal("650.59"), 0]],
    }
    assert not book.increment(increment)  # buffered before the snapshot
    book.snapshot(snapshot)
    bids, asks = book.top(5)
    assert bids[0] == (Decimal("618.37"), Decimal("71.594"))
    assert asks[0] == (Decimal("650.63"), Decimal("97.996"))  # the buffered removal applied
    assert book.seq == snapshot["seqNum"] + 1
    seq = snapshot["seqNum"] + 1
    with pytest.raises(SequenceGapError):
        book.increment({"seqNum": seq + 5, "prevSeqNum": seq + 3, "bids": [], "asks": []})


def test_a_malformed_mbp_increment_changes_nothing(fixtures_dir: Path) -> None:
    """A level whose number is out of range (or not a number) refuses the whole increment; the
    chain then no longer follows, so the book resyncs instead of keeping half an update."""
    snapshot = load(fixtures_dir, "ws_mbp_req_response.json")["data"]
    book = MbpBook("BTC/USDT")
    book.snapshot(snapshot)
    before = book.top(150)
    seq = snapshot["seqNum"]
    for bad in (Decimal("1E+999999999"), "x"):
        increment = {
            "seqNum": seq + 1,
            "prevSeqNum": seq,
            "bids": [[Decimal("618.40"), 1]],
            "asks": [[bad, 1]],
        }
        with pytest.raises(BadResponseError, match="bad book level"):
            book.increment(increment)
        assert book.top(150) == before and book.seq == seq
    with pytest.raises(BadResponseError):
        parsers.levels([[Decimal("1E+999999999"), 1]], "huobi-sim")
