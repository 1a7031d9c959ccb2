"""Builders shared by the arbitrage tests."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.models import Market, OrderBook, Quote

INSTANCE = "test-ex"


@dataclass
class FixedClock:
    """A clock that reads ``now`` until told otherwise."""

    now: int = 1_000_000

    def now_ms(self) -> int:
        return self.now

    def monotonic(self) -> float:
        return self.now / 1000

    async def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def market(
    symbol: str,
    *,
    lot: str | None = None,
    min_amount: str | None = None,
    min_notional: str | None = None,
    status: str = "trading",
) -> Market:
    base, quote = symbol.split("/")
    return Market.model_validate(
        {
            "instance": INSTANCE,
            "symbol": symbol,
            "native_id": base + quote,
            "base": base,
            "quote": quote,
            "status": status,
            "amount_increment": lot,
            "min_amount": min_amount,
            "min_notional": min_notional,
            "receive_time": 0,
        }
    )


def quote(
    symbol: str,
    bid: str,
    bid_size: str,
    ask: str,
    ask_size: str,
    time: int = 1_000_000,
    sequence: int | None = None,
) -> Quote:
    return Quote(
        instance=INSTANCE,
        symbol=symbol,
        event_time=None,
        receive_time=time,
        bid=Decimal(bid),
        bid_size=Decimal(bid_size),
        ask=Decimal(ask),
        ask_size=Decimal(ask_size),
        sequence=sequence,
    )


def book(
    symbol: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    time: int = 1_000_000,
    sequence: int | None = None,
) -> OrderBook:
    return OrderBook(
        instance=INSTANCE,
        symbol=symbol,
        event_time=None,
        receive_time=time,
        bids=[(Decimal(p), Decimal(a)) for p, a in bids],
        asks=[(Decimal(p), Decimal(a)) for p, a in asks],
        sequence=sequence,
        depth=max(len(bids), len(asks)),
    )
