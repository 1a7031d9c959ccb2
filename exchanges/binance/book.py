"""A local Binance order book kept from one REST snapshot plus the ``depth@100ms`` diff stream.

The procedure is Binance's own ("How to manage a local order book correctly"):

1. buffer the diff events while the snapshot is fetched;
2. drop every buffered event with ``u <= lastUpdateId``;
3. the first event applied must have ``U <= lastUpdateId + 1 <= u``;
4. from then on every event's ``U`` is the previous event's ``u + 1``.

A broken chain raises :class:`~core.errors.SequenceGapError`; the owner then resyncs *this* book
(new snapshot, same connection). An amount of zero removes a price level.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal

from core.errors import SequenceGapError
from core.models import BookLevel, CheckedLevels
from exchanges.binance.parsers import DepthDiff, DepthSnapshot

MAX_BUFFERED = 2_000
"""Diff events held while a snapshot is on its way (≈ 200 s at 100 ms); beyond that the oldest go."""


class LocalBook:
    """The book state of one symbol and its synchronisation with the diff stream.

    Each side keeps its levels as the ``(price, amount)`` tuples the parser made, by price, plus the
    ascending list of prices. :meth:`top` is cached: a diff whose changes all lie below the cached
    top levels leaves it as it was, so the same lists are handed out again.
    """

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._bids: dict[Decimal, BookLevel] = {}
        self._asks: dict[Decimal, BookLevel] = {}
        self._bid_prices: list[Decimal] = []  # ascending, kept in step with ``_bids``
        self._ask_prices: list[Decimal] = []  # ascending, kept in step with ``_asks``
        self.last_update_id: int | None = None
        self.event_time: int | None = None
        self._bridged = False
        self._buffer: list[DepthDiff] = []
        self._top: tuple[int, list[BookLevel], list[BookLevel]] | None = None  # levels, bids, asks

    @property
    def bids(self) -> dict[Decimal, Decimal]:
        """Bid amounts by price (a copy)."""
        return dict(self._bids.values())

    @property
    def asks(self) -> dict[Decimal, Decimal]:
        """Ask amounts by price (a copy)."""
        return dict(self._asks.values())

    @property
    def synced(self) -> bool:
        """True once a snapshot is loaded and the diff chain is unbroken."""
        return self.last_update_id is not None

    @property
    def buffered(self) -> int:
        """Diff events waiting for a snapshot."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget the state (after a gap): buffer diffs again until the next snapshot."""
        self._bids.clear()
        self._asks.clear()
        self._top = None
        self._bid_prices.clear()
        self._ask_prices.clear()
        self.last_update_id = None
        self._bridged = False
        self._buffer.clear()

    def on_diff(self, diff: DepthDiff) -> bool:
        """Take one diff event; True when the book changed.

        Before a snapshot the event is buffered. Raises :class:`SequenceGapError` when the event
        does not continue the chain; the event is then kept as the first of the new buffer.
        """
        if self.last_update_id is None:
            self._buffer.append(diff)
            if len(self._buffer) > MAX_BUFFERED:
                del self._buffer[0]
            return False
        try:
            return self._apply_in_order(diff)
        except SequenceGapError:
            self.reset()
            self._buffer.append(diff)
            raise

    def on_snapshot(self, snapshot: DepthSnapshot) -> None:
        """Load a REST snapshot and replay the buffered events that follow it.

        Raises :class:`SequenceGapError` when the buffered events do not bridge the snapshot (the
        snapshot is older than the first event kept); the book is then reset and waits again.
        """
        pending, self._buffer = self._buffer, []
        self._bids = {level[0]: level for level in snapshot.bids if level[1]}
        self._asks = {level[0]: level for level in snapshot.asks if level[1]}
        self._bid_prices = sorted(self._bids)
        self._ask_prices = sorted(self._asks)
        self._top = None
        self.last_update_id = snapshot.last_update_id
        self._bridged = False
        try:
            for diff in pending:
                self._apply_in_order(diff)
        except SequenceGapError:
            self.reset()
            raise

    def _apply_in_order(self, diff: DepthDiff) -> bool:
        last = self.last_update_id
        assert last is not None
        if diff.last_id <= last:
            return False  # already contained in the snapshot or a replay
        expected_ok = diff.first_id == last + 1 if self._bridged else diff.first_id <= last + 1
        if not expected_ok:
            raise SequenceGapError(
                f"binance: {self.symbol}: depth update {diff.first_id}..{diff.last_id} does not follow {last}"
            )
        top = self._top
        if top is not None and (
            _reaches(diff.bids, top[1], top[0], bids=True) or _reaches(diff.asks, top[2], top[0], bids=False)
        ):
            self._top = None
        _update(self._bids, self._bid_prices, diff.bids)
        _update(self._asks, self._ask_prices, diff.asks)
        self.last_update_id = diff.last_id
        self.event_time = diff.event_time
        self._bridged = True
        return True

    def top(self, levels: int) -> tuple[list[BookLevel], list[BookLevel]]:
        """The best ``levels`` bids (descending) and asks (ascending). Do not modify the lists."""
        top = self._top
        if top is not None and top[0] == levels:
            return top[1], top[2]
        bids, asks = self._bids, self._asks
        bid_prices = self._bid_prices[: -levels - 1 : -1] if levels > 0 else []
        # positive: the parser refuses other prices and negative amounts, zero amounts are deleted
        best_bids = CheckedLevels([bids[p] for p in bid_prices])
        best_asks = CheckedLevels([asks[p] for p in self._ask_prices[:levels]] if levels > 0 else [])
        self._top = (levels, best_bids, best_asks)
        return best_bids, best_asks


def _reaches(changes: list[BookLevel], top: list[BookLevel], levels: int, *, bids: bool) -> bool:
    """True when a change may alter ``top``, the cached best ``levels`` levels of its side.

    A change strictly behind the worst cached level cannot: the cached levels are exactly those at
    or in front of it. While the side has fewer levels than asked, every change can.
    """
    if not changes:
        return False
    if len(top) < levels or not top:
        return True
    if bids:
        return max(changes)[0] >= top[-1][0]
    return min(changes)[0] <= top[-1][0]


def _update(side: dict[Decimal, BookLevel], prices: list[Decimal], changes: Iterable[BookLevel]) -> None:
    """Apply changed levels to one side: its levels by price and its ascending price list."""
    for level in changes:
        price = level[0]
        if level[1]:
            if price not in side:
                insort(prices, price)
            side[price] = level
        elif price in side:
            del side[price]
            del prices[bisect_left(prices, price)]
