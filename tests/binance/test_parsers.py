"""Binance payload parsers on recorded payloads: every shape, exact decimals, malformed input."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest

from core.capabilities import RateLimit
from core.decimals import format_decimal
from core.errors import BadResponseError
from core.intervals import Interval
from exchanges.binance.adapter import request_weight_limit
from exchanges.binance.book import LocalBook
from exchanges.binance.levels import KITS, Rows
from exchanges.binance.parsers import BinanceParser, DepthSnapshot

Load = Callable[[str], Any]
NOW = 1_800_000_000_000


def test_exchange_info_2021_schema(parser: BinanceParser, binance_fixture: Load) -> None:
    body = binance_fixture("rest_exchangeInfo_sample")
    markets = {m.native_id: m for m in (parser.market(s, NOW) for s in body["symbols"])}
    eth = markets["ETHBTC"]
    assert (eth.symbol, eth.base, eth.quote, eth.status) == ("ETH/BTC", "ETH", "BTC", "trading")
    assert format_decimal(eth.price_increment or Decimal(-1)) == "0.00000100"
    assert eth.price_precision == 6
    assert eth.amount_precision == 4
    assert eth.min_notional == Decimal("0.00010000")
    assert markets["BCCBTC"].status == "halted"


def test_exchange_info_recent_schema_uses_notional(parser: BinanceParser, binance_fixture: Load) -> None:
    btc = parser.market(binance_fixture("rest_exchangeInfo_symbol_entries_recent")[0], NOW)
    assert btc.symbol == "BTC/USDT"
    assert (btc.price_increment, btc.amount_increment) == (Decimal("0.01"), Decimal("0.00001"))
    assert (btc.price_precision, btc.amount_precision) == (2, 5)
    assert btc.min_notional == Decimal("5")
    assert btc.min_amount == Decimal("0.00001")


def test_rest_ticker_keeps_exact_text(parser: BinanceParser, binance_fixture: Load) -> None:
    ticker = parser.ticker(binance_fixture("rest_ticker_24hr"), NOW)
    dumped = orjson.loads(ticker.model_dump_json())
    assert ticker.symbol == "BTC/USDT"
    assert dumped["last"] == "73369.84000000"
    assert dumped["quote_volume"] == "5167027510.68728707"
    assert dumped["change_percent"] == "1.647"
    assert ticker.event_time == 1710328245391
    assert ticker.receive_time == NOW


def test_rest_mini_ticker_list_has_no_book(parser: BinanceParser, binance_fixture: Load) -> None:
    tickers = [parser.ticker(t, NOW) for t in binance_fixture("rest_ticker_24hr_mini_list")]
    assert [t.symbol for t in tickers] == ["BNB/BTC", "LTC/BTC"]
    assert tickers[0].bid is None
    assert tickers[0].last == Decimal("4.00000200")


def test_rest_book_ticker_and_price_lists(parser: BinanceParser, binance_fixture: Load) -> None:
    quotes = [parser.book_ticker(t, NOW) for t in binance_fixture("rest_ticker_bookTicker_list")]
    assert quotes[1].symbol == "ETH/BTC"
    assert format_decimal(quotes[1].bid) == "0.07946700"
    assert quotes[1].event_time is None
    prices = [parser.price(t, NOW) for t in binance_fixture("rest_ticker_price_list")]
    assert [format_decimal(p.price) for p in prices] == ["4.00000200", "0.07946600"]


def test_rest_depth_snapshot(parser: BinanceParser, binance_fixture: Load) -> None:
    snapshot = parser.depth_snapshot(binance_fixture("rest_depth_BTCUSDT_limit2"), "BTC/USDT")
    book = parser.order_book("BTC/USDT", snapshot, 1, NOW)
    assert book.sequence == 25445101
    assert book.bids == [(Decimal("42574.30000000"), Decimal("0.01070000"))]
    assert book.asks == [(Decimal("42574.31000000"), Decimal("0.00870000"))]
    assert book.depth == 1


def test_rest_trades_side_is_the_takers(parser: BinanceParser, binance_fixture: Load) -> None:
    (trade,) = [parser.trade("LTC/BTC", t, NOW) for t in binance_fixture("rest_trades")]
    assert (trade.id, trade.side, trade.event_time) == ("28457", "sell", 1499865549590)
    assert format_decimal(trade.price) == "4.00000100"


def test_rest_klines_keep_quote_volume_and_trades(parser: BinanceParser, binance_fixture: Load) -> None:
    rows = binance_fixture("rest_klines")
    receive = rows[1][6] + 1  # between the second candle's close and the third's
    klines = [parser.kline_row("BTC/USDT", Interval.H1, r, receive) for r in rows]
    assert [k.open_time for k in klines] == [1706630400000, 1706634000000, 1706637600000]
    assert format_decimal(klines[0].quote_volume or Decimal(0)) == "891428.42858070"
    assert klines[0].trades == 3743
    assert [k.closed for k in klines] == [True, True, False]


def test_ws_ticker(parser: BinanceParser, binance_fixture: Load) -> None:
    ticker = parser.ws_ticker(binance_fixture("ws_ticker"), NOW)
    assert (ticker.symbol, ticker.event_time) == ("BNB/BTC", 1672515782136)
    assert format_decimal(ticker.last) == "0.0025"
    assert format_decimal(ticker.change_percent or Decimal(0)) == "250.00"


def test_ws_book_ticker_real_frame(parser: BinanceParser, binance_fixture: Load) -> None:
    quote = parser.ws_book_ticker(binance_fixture("ws_combined_bookTicker")["data"], NOW)
    assert quote.symbol == "NKN/USDT"
    assert (format_decimal(quote.bid), format_decimal(quote.ask_size)) == ("0.35210000", "3199.00000000")
    assert quote.event_time is None
    assert quote.sequence == 499869768  # the order book update id: orders it against the depth's


def test_ws_book_ticker_with_a_bad_update_id_is_malformed(
    parser: BinanceParser, binance_fixture: Load
) -> None:
    frame = {**binance_fixture("ws_combined_bookTicker")["data"], "u": "499869768"}
    with pytest.raises(BadResponseError):
        parser.ws_book_ticker(frame, NOW)


@pytest.mark.parametrize("huge", ["1E+999999999", "1e-999999999", "0E-1000000", "1" + "0" * 120])
def test_a_value_whose_plain_text_would_explode_is_malformed(
    parser: BinanceParser, binance_fixture: Load, huge: str
) -> None:
    """Exponent text is short but its plain text is not ("1E+999999999" is a billion digits once
    stored): the frame is refused like any malformed one instead of exhausting memory."""
    frame = {**binance_fixture("ws_combined_bookTicker")["data"], "b": huge}
    with pytest.raises(BadResponseError, match="out of range"):
        parser.ws_book_ticker(frame, NOW)


def test_ws_trade_and_price(parser: BinanceParser, binance_fixture: Load) -> None:
    event = binance_fixture("ws_trade")
    trade, price = parser.ws_trade(event, NOW), parser.ws_price(event, NOW)
    assert (trade.id, trade.side, trade.event_time) == ("12345", "sell", 1672515782136)
    assert price.price == Decimal("0.001")
    agg = parser.ws_trade(binance_fixture("ws_aggTrade"), NOW)
    assert (agg.id, agg.side, format_decimal(agg.amount)) == ("15683430", "buy", "58.00000000")


def test_ws_kline_running_candle(parser: BinanceParser, binance_fixture: Load) -> None:
    kline = parser.ws_kline(binance_fixture("ws_combined_kline")["data"], NOW)
    assert (kline.interval, kline.closed, kline.trades) == (Interval.M1, False, 30)
    assert (kline.open_time, kline.close_time) == (1633998480000, 1633998539999)
    assert format_decimal(kline.quote_volume or Decimal(0)) == "9116.04600000"


def exact_levels(rows: Rows) -> list[tuple[Decimal, Decimal]]:
    """A depth diff's checked rows, whichever book kit checked them, as exact pairs."""
    return [(Decimal(row[0]), Decimal(row[1])) for row in rows]


@pytest.fixture(params=KITS, ids=lambda kit: kit.name)
def depth_parser(parser: BinanceParser, request: pytest.FixtureRequest) -> BinanceParser:
    """The parser with each book kit in turn (they check a diff's levels differently)."""
    parser.levels_kit = request.param
    return parser


def test_ws_depth_diff(depth_parser: BinanceParser, binance_fixture: Load) -> None:
    diff = depth_parser.ws_depth(binance_fixture("ws_depthUpdate"))
    assert (diff.symbol, diff.first_id, diff.last_id) == ("NKN/USDT", 499869750, 499869752)
    assert exact_levels(diff.bids)[0] == (Decimal("0.35130000"), Decimal("6195.00000000"))
    assert diff.asks == []


def test_other_spellings_of_depth_levels_are_normalised(
    depth_parser: BinanceParser, binance_fixture: Load
) -> None:
    """Text a Decimal accepts but the native book does not keep as is (an exponent, leading zeros)
    takes the normalising path; the levels are the same numbers."""
    rows = [["1.5E-3", "2"], ["0012.50", "1e1"], ["0.1", "3"]]
    diff = depth_parser.ws_depth({**binance_fixture("ws_depthUpdate"), "b": rows, "a": []})
    assert exact_levels(diff.bids) == [(Decimal(p), Decimal(a)) for p, a in rows]


def test_tiny_prices_stay_exact(parser: BinanceParser) -> None:
    event = {"e": "trade", "E": 1, "s": "BNBBTC", "t": 1, "p": "0.00001230", "q": "1.0", "T": 1, "m": False}
    price = parser.ws_price(event, NOW)
    assert format_decimal(price.price) == "0.00001230"
    assert orjson.loads(price.model_dump_json())["price"] == "0.00001230"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"e": "trade", "E": 1, "s": "BNBBTC", "t": 1, "q": "1", "T": 1, "m": False}, "BNBBTC"),
        ({"e": "trade", "E": 1, "s": "BNBBTC", "t": 1, "p": 0.1, "q": "1", "T": 1, "m": False}, "float"),
        ({"e": "trade", "E": 1, "s": "BNBBTC", "t": 1, "p": "abc", "q": "1", "T": 1, "m": False}, "BNBBTC"),
        ({"e": "trade", "E": 1, "s": "XYZABC", "t": 1, "p": "1", "q": "1", "T": 1, "m": False}, "XYZABC"),
        ({"e": "trade", "E": 1, "s": "BNBBTC", "t": 1, "p": "1", "q": "1", "T": 1, "m": "yes"}, "BNBBTC"),
    ],
)
def test_malformed_trade_raises_bad_response(
    parser: BinanceParser, event: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadResponseError, match=message):
        parser.ws_trade(event, NOW)


def test_malformed_depth_and_kline(parser: BinanceParser, binance_fixture: Load) -> None:
    depth = binance_fixture("ws_depthUpdate")
    with pytest.raises(BadResponseError, match="NKNUSDT"):
        parser.ws_depth({**depth, "U": "499869750"})
    with pytest.raises(BadResponseError, match="NKNUSDT"):
        parser.ws_depth({**depth, "b": [["0.1"]]})
    kline = binance_fixture("ws_kline")
    with pytest.raises(BadResponseError, match="NKNUSDT"):
        parser.ws_kline({**kline, "k": {**kline["k"], "i": "2m"}}, NOW)


@pytest.mark.parametrize(
    "rows",
    [
        [["0.1", 5.0]],  # a float has already lost the exchange's digits
        [[0.1, "5"]],
        [["0.1", "5"], ["NaN", "1"]],
        [["0.1", "Infinity"]],
        [["0.1", "five"]],
        [["0.1", None]],
        [None],
        "0.1",
        [["0", "5"]],  # a level needs a positive price
        [["-0.1", "5"]],
        [["0.1", "-5"]],  # zero deletes a level; a negative amount is nonsense
    ],
)
def test_malformed_depth_levels_are_refused(parser: BinanceParser, binance_fixture: Load, rows: Any) -> None:
    depth = binance_fixture("ws_depthUpdate")
    with pytest.raises(BadResponseError, match="NKNUSDT: malformed depthUpdate"):
        parser.ws_depth({**depth, "a": rows})


def test_a_zero_amount_is_a_deletion_not_an_error(depth_parser: BinanceParser, binance_fixture: Load) -> None:
    diff = depth_parser.ws_depth({**binance_fixture("ws_depthUpdate"), "b": [["0.1", "0.00000000"]], "a": []})
    assert exact_levels(diff.bids) == [(Decimal("0.1"), Decimal(0))]


@pytest.mark.parametrize("huge", ["1E+999999999", "1e-999999999", "2" * 120])
def test_depth_levels_whose_plain_text_would_explode_are_malformed(
    depth_parser: BinanceParser, binance_fixture: Load, huge: str
) -> None:
    for level in ([huge, "1"], ["1", huge]):
        with pytest.raises(BadResponseError):
            depth_parser.ws_depth({**binance_fixture("ws_depthUpdate"), "b": [level], "a": []})


def test_depth_levels_drop_extra_fields_keep_text(depth_parser: BinanceParser, binance_fixture: Load) -> None:
    depth = binance_fixture("ws_depthUpdate")
    diff = depth_parser.ws_depth({**depth, "b": [["0.00001230", "10.0", "ignored"]], "a": []})
    assert exact_levels(diff.bids) == [(Decimal("0.00001230"), Decimal("10.0"))]
    book = LocalBook("NKN/USDT", depth_parser.levels_kit)
    book.on_snapshot(DepthSnapshot(diff.first_id, [], []))
    book.on_diff(diff)
    assert format_decimal(book.top(1)[0][0][0]) == "0.00001230"


def test_request_weight_limit_from_exchange_info(binance_fixture: Load) -> None:
    body = binance_fixture("rest_exchangeInfo_sample")
    limit = request_weight_limit(body["rateLimits"])
    assert limit is not None and (limit.limit, limit.window_seconds) == (1200, 60.0)  # the 2021 sample
    entry = {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 10, "limit": 500}
    assert request_weight_limit([entry]) == RateLimit(unit="weight", limit=500, window_seconds=10.0)


@pytest.mark.parametrize(
    "rate_limits",
    [
        None,
        "6000",
        [],
        [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}],
        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "FORTNIGHT", "intervalNum": 1, "limit": 6000}],
        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": "6000"}],
        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 0}],
        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": True, "limit": 6000}],
    ],
)
def test_unusable_rate_limits_leave_the_default(rate_limits: Any) -> None:
    assert request_weight_limit(rate_limits) is None
