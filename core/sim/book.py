"""A price-level order book on a tick grid (prices and quantities in engine units)."""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass

Level = tuple[int, int]
"""``(price, quantity)``; a quantity of 0 in a diff means the level was removed."""


@dataclass(slots=True)
class BookSnapshot:
    """The top of a book at one update id: bids best (highest) first, asks best (lowest) first."""

    last_update_id: int
    bids: list[Level]
    asks: list[Level]


class OrderBook:
    """Bids and asks as ``price -> quantity`` maps with sorted price lists.

    ``changes`` collects every level touched since :meth:`take_changes`, so the engine can publish
    one diff per step with the final quantity of each changed level.
    """

    __slots__ = ("ask_changes", "ask_prices", "asks", "bid_changes", "bid_prices", "bids")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_prices: list[int] = []
        """Bid prices ascending (best bid last); read-only outside the book, the list is never replaced."""
        self.ask_prices: list[int] = []
        """Ask prices ascending (best ask first); read-only outside the book, the list is never replaced."""
        self.bid_changes: dict[int, int] = {}
        self.ask_changes: dict[int, int] = {}

    # ---- reading --------------------------------------------------------------------------------
    @property
    def best_bid(self) -> Level | None:
        """The highest bid, or ``None`` when there are no bids."""
        if not self.bid_prices:
            return None
        price = self.bid_prices[-1]
        return price, self.bids[price]

    @property
    def best_ask(self) -> Level | None:
        """The lowest ask, or ``None`` when there are no asks."""
        if not self.ask_prices:
            return None
        price = self.ask_prices[0]
        return price, self.asks[price]

    def top(self) -> tuple[int, int, int, int]:
        """``(bid, bid_qty, ask, ask_qty)`` of the best levels; zeros for an empty side."""
        bids, asks = self.bid_prices, self.ask_prices
        if bids:
            bid = bids[-1]
            bid_qty = self.bids[bid]
        else:
            bid = bid_qty = 0
        if asks:
            ask = asks[0]
            return bid, bid_qty, ask, self.asks[ask]
        return bid, bid_qty, 0, 0

    def bid_prices_desc(self, limit: int) -> list[int]:
        """Up to ``limit`` bid prices, best first."""
        prices = self.bid_prices[-limit:] if limit > 0 else []
        prices.reverse()
        return prices

    def ask_prices_asc(self, limit: int) -> list[int]:
        """Up to ``limit`` ask prices, best first."""
        return self.ask_prices[:limit]

    def snapshot(self, last_update_id: int, limit: int) -> BookSnapshot:
        """The best ``limit`` levels of each side."""
        bids, asks = self.bids, self.asks
        return BookSnapshot(
            last_update_id,
            [(p, bids[p]) for p in self.bid_prices_desc(limit)],
            [(p, asks[p]) for p in self.ask_prices_asc(limit)],
        )

    def depth(self) -> tuple[int, int]:
        """Number of bid and ask levels."""
        return len(self.bid_prices), len(self.ask_prices)

    # ---- writing --------------------------------------------------------------------------------
    def set_bid(self, price: int, qty: int) -> None:
        """Set (or remove, with ``qty == 0``) one bid level and record the change."""
        _set(self.bids, self.bid_prices, price, qty)
        self.bid_changes[price] = qty

    def set_ask(self, price: int, qty: int) -> None:
        """Set (or remove, with ``qty == 0``) one ask level and record the change."""
        _set(self.asks, self.ask_prices, price, qty)
        self.ask_changes[price] = qty

    def pop_bids_above(self, price: int) -> None:
        """Remove every bid at or above ``price``."""
        while self.bid_prices and self.bid_prices[-1] >= price:
            self.set_bid(self.bid_prices[-1], 0)

    def pop_asks_below(self, price: int) -> None:
        """Remove every ask at or below ``price``."""
        while self.ask_prices and self.ask_prices[0] <= price:
            self.set_ask(self.ask_prices[0], 0)

    def trim(self, keep: int) -> None:
        """Drop the levels beyond the best ``keep`` of each side."""
        while len(self.bid_prices) > keep:
            self.set_bid(self.bid_prices[0], 0)
        while len(self.ask_prices) > keep:
            self.set_ask(self.ask_prices[-1], 0)

    def take_changes(self) -> tuple[list[Level], list[Level]]:
        """The levels changed since the last call (final quantities), then forget them."""
        bids = sorted(self.bid_changes.items(), reverse=True)
        asks = sorted(self.ask_changes.items())
        self.bid_changes = {}
        self.ask_changes = {}
        return bids, asks


def _set(levels: dict[int, int], prices: list[int], price: int, qty: int) -> None:
    if qty > 0:
        if price not in levels:
            insort(prices, price)
        levels[price] = qty
    elif price in levels:
        del levels[price]
        del prices[bisect_left(prices, price)]
