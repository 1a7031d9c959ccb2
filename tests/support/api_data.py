"""Seed the store with a known data set through core's StoreWriter, for API tests and benches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from core.clock import SystemClock
from core.intervals import ALL_INTERVALS, Interval
from core.models import Kline, Quote, Record
from core.store import StoreWriter
from tests import factories as f

SYMBOLS = ("BTC/USDT", "ETH/USDT", "ETH/BTC")
OTHER = "other-venue"
KLINES_PER_INTERVAL = 37  # not a multiple of any page size


R = TypeVar("R", bound=Record)


def on(instance: str, record: R) -> R:
    """The same record, as another instance would have stored it."""
    return record.model_copy(update={"instance": instance})


def kline_series(
    interval: Interval, count: int, *, instance: str = f.INSTANCE, symbol: str = "BTC/USDT"
) -> list[Kline]:
    """``count`` consecutive candles ending with the one containing ``f.T0``, with distinct closes."""
    opens = [interval.open_time(f.T0)]
    while len(opens) < count:
        opens.append(interval.open_time(opens[-1] - 1))
    opens.reverse()
    return [
        on(instance, f.kline(symbol, interval, open_time=t, close=f"{43000 + i}.{i:02d}000000"))
        for i, t in enumerate(opens)
    ]


class FixedClock(SystemClock):
    """The system clock with a settable wall time (freshness tests)."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now


@dataclass
class Seeded:
    """What :func:`seed` wrote, to compare answers against."""

    klines: dict[Interval, list[Kline]] = field(default_factory=dict)
    trades: int = 0
    quotes: dict[str, Quote] = field(default_factory=dict)


async def seed(writer: StoreWriter, *, now_ms: int = f.T0, trades: int = 30) -> Seeded:
    """Two instances: ``test-venue`` with everything, ``other-venue`` with quotes of BTC/USDT and ETH/USDT."""
    seeded = Seeded()
    writer.put_markets(f.INSTANCE, [f.market(s) for s in SYMBOLS], {"plugin": "test", "simulated": True})
    writer.put_markets(
        OTHER, [f.market(s, OTHER) for s in SYMBOLS[:2]], {"plugin": "test", "simulated": True}
    )
    for symbol in SYMBOLS:
        writer.put(f.ticker(symbol, t=now_ms))
        writer.put(f.quote(symbol, t=now_ms))
        writer.put(f.price(symbol, t=now_ms))
        writer.put(f.book(symbol, t=now_ms))
    for i in range(1, trades + 1):
        writer.put(f.trade(trade_id=i, t=now_ms - trades + i))
    seeded.trades = trades
    for interval in ALL_INTERVALS:
        series = kline_series(interval, KLINES_PER_INTERVAL)
        writer.put_many(series)
        seeded.klines[interval] = series
    other_btc = on(OTHER, f.quote("BTC/USDT", bid="43210.50000000", t=now_ms))
    writer.put(other_btc)
    writer.put(on(OTHER, f.quote("ETH/USDT", bid="1.00", t=now_ms)))
    seeded.quotes = {"BTC/USDT": other_btc}
    writer.incr(f.INSTANCE, "resyncs", 2)  # what a collector counted
    writer.incr(f.INSTANCE, "reconnects", 1)
    await writer.flush()
    return seeded
