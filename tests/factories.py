"""Builders of normalized records for tests, with exchange-like exact decimal strings."""

from __future__ import annotations

from core.intervals import Interval
from core.models import Kline, Market, OrderBook, Price, Quote, Ticker, Trade

INSTANCE = "test-venue"
T0 = 1_700_000_000_000


def market(symbol: str = "BTC/USDT", instance: str = INSTANCE) -> Market:
    base, quote = symbol.split("/")
    return Market(
        instance=instance, symbol=symbol, native_id=f"{base}{quote}", base=base, quote=quote,
        price_increment="0.01000000", amount_increment="0.00001000", price_precision=2,
        amount_precision=5, min_amount="0.00001000", min_notional="5.00000000", receive_time=T0,
    )  # fmt: skip


def ticker(symbol: str = "BTC/USDT", last: str = "43210.12000000", t: int = T0) -> Ticker:
    return Ticker(
        instance=INSTANCE, symbol=symbol, event_time=t, receive_time=t + 3, open="42000.00000000",
        high="44000.00000000", low="0.00001230", last=last, volume="1234.56780000",
        quote_volume="53333333.12345678", change="1210.12000000", change_percent="2.881",
        bid="43210.11000000", bid_size="0.50000000", ask="43210.12000000", ask_size="1.00000000",
    )  # fmt: skip


def quote(symbol: str = "BTC/USDT", bid: str = "43210.11000000", t: int = T0) -> Quote:
    return Quote(
        instance=INSTANCE, symbol=symbol, event_time=t, receive_time=t + 1, bid=bid,
        bid_size="0.50000000", ask="43210.12000000", ask_size="1.00000000",
    )  # fmt: skip


def price(symbol: str = "BTC/USDT", value: str = "0.00001230", t: int = T0) -> Price:
    return Price(instance=INSTANCE, symbol=symbol, event_time=t, receive_time=t + 1, price=value)


def book(symbol: str = "BTC/USDT", t: int = T0, sequence: int = 42) -> OrderBook:
    return OrderBook(
        instance=INSTANCE, symbol=symbol, event_time=t, receive_time=t + 2, sequence=sequence, depth=5,
        bids=[("43210.11000000", "0.50000000"), ("43210.10000000", "2.00000000")],
        asks=[("43210.12000000", "1.00000000"), ("43210.20000000", "0.00010000")],
    )  # fmt: skip


def trade(symbol: str = "BTC/USDT", trade_id: int = 1, t: int = T0) -> Trade:
    return Trade(
        instance=INSTANCE, symbol=symbol, event_time=t, receive_time=t + 1, id=str(trade_id),
        price="43210.12000000", amount="0.00100000", side="buy" if trade_id % 2 else "sell",
    )  # fmt: skip


def kline(
    symbol: str = "BTC/USDT",
    interval: Interval = Interval.M1,
    open_time: int = T0,
    close: str = "43210.12000000",
    closed: bool = True,
) -> Kline:
    open_time = interval.open_time(open_time)
    return Kline(
        instance=INSTANCE, symbol=symbol, event_time=open_time + 1, receive_time=open_time + 2,
        interval=interval, open_time=open_time, close_time=interval.close_time(open_time),
        open="43000.00000000", high="43300.00000000", low="42900.00000000", close=close,
        volume="12.34500000", quote_volume="533333.10000000", trades=321, closed=closed,
    )  # fmt: skip
