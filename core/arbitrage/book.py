"""The engine's view of one market's book: levels per side and when it was last updated.

A :class:`~core.models.Quote` (or a ticker with bid, ask and both sizes) gives one level per side;
an :class:`~core.models.OrderBook` gives all its levels. When a quote arrives for a market whose book
is known, the quote becomes the top and the levels of the latest book behind it are kept (a quote
replaces an earlier quote entirely); a newer book replaces everything. Levels with a zero price or
amount are dropped. The market's time is that of its latest record.

Quotes arrive several times more often than books, and most never reach an exact evaluation (the
float screen only needs the best prices), so a quote's merge with the book behind it is done on
first use of :attr:`Book.bids` / :attr:`Book.asks`, not on arrival.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from operator import itemgetter

from core.models import CheckedLevels

Level = tuple[Decimal, Decimal]


_NO_LEVELS: list[Level] = []


class Book:
    """Bids best (highest) first, asks best (lowest) first; ``time`` in Unix ms.

    ``depth_bids``/``depth_asks`` are the levels of the latest order book, if one was seen.
    """

    __slots__ = ("_asks", "_bids", "_top_ask", "_top_bid", "depth_asks", "depth_bids", "time")

    def __init__(
        self,
        bids: list[Level] | None,
        asks: list[Level] | None,
        time: int,
        depth_bids: list[Level],
        depth_asks: list[Level],
        *,
        top_bid: Level | None = None,
        top_ask: Level | None = None,
    ) -> None:
        self._bids = bids
        self._asks = asks
        self._top_bid = top_bid
        self._top_ask = top_ask
        self.time = time
        self.depth_bids = depth_bids
        self.depth_asks = depth_asks

    @property
    def bids(self) -> list[Level]:
        """Bid levels, best first (a quote merged over the deeper book levels below it)."""
        if self._bids is None:
            bid = self._top_bid
            assert bid is not None
            self._bids = clean_levels([bid, *(level for level in self.depth_bids if level[0] < bid[0])])
        return self._bids

    @property
    def asks(self) -> list[Level]:
        """Ask levels, best first (a quote merged over the deeper book levels above it)."""
        if self._asks is None:
            ask = self._top_ask
            assert ask is not None
            self._asks = clean_levels([ask, *(level for level in self.depth_asks if level[0] > ask[0])])
        return self._asks

    @property
    def best_bid(self) -> Decimal | None:
        """The best bid price, without merging the book when the quote's own bid is valid."""
        bid = self._top_bid
        if self._bids is None and bid is not None and bid[0] > 0 and bid[1] > 0:
            return bid[0]
        bids = self.bids
        return bids[0][0] if bids else None

    @property
    def best_ask(self) -> Decimal | None:
        """The best ask price, without merging the book when the quote's own ask is valid."""
        ask = self._top_ask
        if self._asks is None and ask is not None and ask[0] > 0 and ask[1] > 0:
            return ask[0]
        asks = self.asks
        return asks[0][0] if asks else None


def from_quote(previous: Book | None, bid: Level, ask: Level, time: int) -> Book:
    """The book after a top-of-book update: ``bid``/``ask`` on top of the latest book's deeper levels."""
    if previous is None or not (previous.depth_bids or previous.depth_asks):
        bids = [bid] if bid[0] > 0 and bid[1] > 0 else _NO_LEVELS
        asks = [ask] if ask[0] > 0 and ask[1] > 0 else _NO_LEVELS
        return Book(bids, asks, time, _NO_LEVELS, _NO_LEVELS)
    return Book(None, None, time, previous.depth_bids, previous.depth_asks, top_bid=bid, top_ask=ask)


def from_levels(bids: Iterable[Level], asks: Iterable[Level], time: int) -> Book:
    """The book of an order-book snapshot."""
    clean_bids, clean_asks = clean_levels(bids), clean_levels(asks)
    return Book(clean_bids, clean_asks, time, clean_bids, clean_asks)


def clean_levels(levels: Iterable[Level]) -> list[Level]:
    """Book levels with a positive price and amount (zero-amount levels are deletions).

    Levels a local book vouches for (:class:`~core.models.CheckedLevels`) are returned as they are.
    Another list that is already clean is returned as it is after two C-level passes, instead of
    being copied level by level (those passes were ~5% of the collector's CPU when every book took
    them). Neither list is ever modified.
    """
    if isinstance(levels, CheckedLevels):  # EncodedLevels too
        return levels
    if type(levels) is list and (
        not levels or (min(map(_price, levels)) > 0 and min(map(_amount, levels)) > 0)
    ):
        return levels
    return [(p, a) for p, a in levels if p > 0 and a > 0]


_price = itemgetter(0)
_amount = itemgetter(1)
