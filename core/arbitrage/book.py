"""The engine's view of one market's book: levels per side and when it was last updated.

A :class:`~core.models.Quote` (or a ticker with bid, ask and both sizes) gives one level per side;
an :class:`~core.models.OrderBook` gives all its levels. When a quote arrives for a market whose book
is known, the quote becomes the top and the levels of the latest book behind it are kept (a quote
replaces an earlier quote entirely); a newer book replaces everything. Levels with a zero price or
amount are dropped. The market's time is that of its latest record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

Level = tuple[Decimal, Decimal]


_NO_LEVELS: list[Level] = []


@dataclass(slots=True)
class Book:
    """Bids best (highest) first, asks best (lowest) first; ``time`` in Unix ms.

    ``depth_bids``/``depth_asks`` are the levels of the latest order book, if one was seen.
    """

    bids: list[Level]
    asks: list[Level]
    time: int
    depth_bids: list[Level]
    depth_asks: list[Level]


def from_quote(previous: Book | None, bid: Level, ask: Level, time: int) -> Book:
    """The book after a top-of-book update: ``bid``/``ask`` on top of the latest book's deeper levels."""
    if previous is None or not (previous.depth_bids or previous.depth_asks):
        bids = [bid] if bid[0] > 0 and bid[1] > 0 else _NO_LEVELS
        asks = [ask] if ask[0] > 0 and ask[1] > 0 else _NO_LEVELS
        return Book(bids, asks, time, _NO_LEVELS, _NO_LEVELS)
    depth_bids, depth_asks = previous.depth_bids, previous.depth_asks
    bids = clean_levels([bid, *(level for level in depth_bids if level[0] < bid[0])])
    asks = clean_levels([ask, *(level for level in depth_asks if level[0] > ask[0])])
    return Book(bids, asks, time, depth_bids, depth_asks)


def from_levels(bids: Iterable[Level], asks: Iterable[Level], time: int) -> Book:
    """The book of an order-book snapshot."""
    clean_bids, clean_asks = clean_levels(bids), clean_levels(asks)
    return Book(clean_bids, clean_asks, time, clean_bids, clean_asks)


def clean_levels(levels: Iterable[Level]) -> list[Level]:
    """Book levels with a positive price and amount (zero-amount levels are deletions)."""
    return [(p, a) for p, a in levels if p > 0 and a > 0]
