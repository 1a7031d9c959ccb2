"""The websocket parsers build records without pydantic validation; they must equal validated ones."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from core.errors import BadResponseError
from core.intervals import Interval
from core.models import Channel, Market, Quote, Record
from core.records import trusted
from core.store.codec import encode
from exchanges.binance.parsers import BinanceParser

RECEIVED = 1_672_515_782_200
MARKET = Market(instance="b", symbol="BNB/BTC", native_id="BNBBTC", base="BNB", quote="BTC", receive_time=0)
TICKER = {"e": "24hrTicker", "E": 1672515782136, "s": "BNBBTC", "p": "0.0015", "P": "250.00", "w": "0.0018",
          "x": "0.0009", "c": "0.0025", "Q": "10", "b": "0.0024", "B": "10", "a": "0.0026", "A": "100",
          "o": "0.0010", "h": "0.0025", "l": "0.0010", "v": "10000", "q": "0.00000001", "O": 0, "C": 86400000,
          "F": 0, "L": 18150, "n": 18151}  # fmt: skip
BOOK = {"u": 499869768, "s": "BNBBTC", "b": "0.35210000", "B": "672.00000000", "a": "0.35260000", "A": "3199"}
TRADE = {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.001", "q": "100",
         "T": 1672515782136, "m": True, "M": True}  # fmt: skip
KLINE = {"e": "kline", "E": 1633998523963, "s": "BNBBTC",
         "k": {"t": 1633998480000, "T": 1633998539999, "s": "BNBBTC", "i": "1M", "f": 1, "L": 2,
               "o": "0.35270000", "c": "0.35280000", "h": "0.35280000", "l": "0.35220000",
               "v": "25877.00000000", "n": 30, "x": False, "q": "9116.04600000",
               "V": "58", "Q": "20.46", "B": "0"}}  # fmt: skip

KLINE_ROW = [1706630400000, "43519.34000000", "43936.00000000", "43171.00000000", "43488.71000000",
             "20.55495000", 1706633999999, "0.00000001", 3743, "10.914", "473782.957", "0"]  # fmt: skip

Parse = Callable[[BinanceParser, Any], Record]
CASES: list[tuple[str, Parse, Any]] = [
    ("ticker", lambda p, e: p.ws_ticker(e, RECEIVED), TICKER),
    ("bookTicker", lambda p, e: p.ws_book_ticker(e, RECEIVED), BOOK),
    ("bookTicker with E", lambda p, e: p.ws_book_ticker(e, RECEIVED), {**BOOK, "E": 1672515782136}),
    ("trade", lambda p, e: p.ws_trade(e, RECEIVED), TRADE),
    ("price", lambda p, e: p.ws_price(e, RECEIVED), TRADE),
    ("kline", lambda p, e: p.ws_kline(e, RECEIVED), KLINE),
    ("kline row (REST)", lambda p, e: p.kline_row("BNB/BTC", Interval.H1, e, RECEIVED), KLINE_ROW),
    ("running kline row", lambda p, e: p.kline_row("BNB/BTC", Interval.H1, e, 1706630500000), KLINE_ROW),
]


@pytest.mark.parametrize(("name", "parse", "event"), CASES, ids=[c[0] for c in CASES])
def test_parsed_records_equal_validated_ones(name: str, parse: Parse, event: Any) -> None:
    record = parse(BinanceParser("b", [MARKET]), event)
    validated = type(record).model_validate(record.model_dump())
    assert record == validated
    assert encode(record) == encode(validated) == validated.model_dump_json().encode()
    assert record.model_fields_set <= validated.model_fields_set
    assert list(record.__dict__) == list(validated.__dict__)


@pytest.mark.parametrize(
    ("field", "value"),
    [("b", "NaN"), ("b", "Infinity"), ("b", 0.1), ("b", "abc"), ("B", None), ("E", "1672515782136")],
)
def test_bad_values_are_refused(field: str, value: Any) -> None:
    with pytest.raises(BadResponseError, match="BNBBTC"):
        BinanceParser("b", [MARKET]).ws_book_ticker({**BOOK, "E": 1, field: value}, RECEIVED)


def test_trusted_refuses_unknown_fields_and_keeps_defaults() -> None:
    with pytest.raises(TypeError, match="unknown fields"):
        trusted(Quote, instance="b", colour="red")
    quote = trusted(
        Quote, instance="b", symbol="X/Y", event_time=None, receive_time=1,
        bid=Decimal("1"), bid_size=Decimal("2"), ask=Decimal("3"), ask_size=Decimal("4"),
    )  # fmt: skip
    assert quote.channel is Channel.QUOTE
    assert quote == Quote(instance="b", symbol="X/Y", event_time=None, receive_time=1,
                          bid="1", bid_size="2", ask="3", ask_size="4")  # fmt: skip


@pytest.mark.parametrize(("name", "parse", "event"), CASES, ids=[c[0] for c in CASES])
def test_fast_encoding_writes_pydantic_json(name: str, parse: Parse, event: dict[str, Any]) -> None:
    record = parse(BinanceParser("b", [MARKET]), event)
    assert encode(record) == type(record).__pydantic_serializer__.to_json(record)


@pytest.mark.parametrize(
    ("column", "value"),
    [(1, "NaN"), (2, 0.1), (4, "abc"), (5, None), (0, "1706630400000"), (6, 1.5), (8, "3743")],
)
def test_bad_kline_rows_are_refused(column: int, value: Any) -> None:
    row = list(KLINE_ROW)
    row[column] = value
    with pytest.raises(BadResponseError, match="BNB/BTC"):
        BinanceParser("b", [MARKET]).kline_row("BNB/BTC", Interval.H1, row, RECEIVED)
    with pytest.raises(BadResponseError, match="BNB/BTC"):
        BinanceParser("b", [MARKET]).kline_row("BNB/BTC", Interval.H1, KLINE_ROW[:8], RECEIVED)
