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

import heapq
from collections.abc import Iterable
from decimal import Decimal

from core.errors import SequenceGapError
from core.models import BookLevel
from exchanges.binance.parsers import DepthDiff, DepthSnapshot

MAX_BUFFERED = 2_000
"""Diff events held while a snapshot is on its way (≈ 200 s at 100 ms); beyond that the oldest go."""


class LocalBook:
    """The book state of one symbol and its synchronisation with the diff stream."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_update_id: int | None = None
        self.event_time: int | None = None
        self._bridged = False
        self._buffer: list[DepthDiff] = []

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
        self.bids.clear()
        self.asks.clear()
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
        self.bids = {p: a for p, a in snapshot.bids if a}
        self.asks = {p: a for p, a in snapshot.asks if a}
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
        _update(self.bids, diff.bids)
        _update(self.asks, diff.asks)
        self.last_update_id = diff.last_id
        self.event_time = diff.event_time
        self._bridged = True
        return True

    def top(self, levels: int) -> tuple[list[BookLevel], list[BookLevel]]:
        """The best ``levels`` bids (descending) and asks (ascending)."""
        bid_prices = heapq.nlargest(levels, self.bids)
        ask_prices = heapq.nsmallest(levels, self.asks)
        return [(p, self.bids[p]) for p in bid_prices], [(p, self.asks[p]) for p in ask_prices]


def _update(side: dict[Decimal, Decimal], changes: Iterable[BookLevel]) -> None:
    for price, amount in changes:
        if amount:
            side[price] = amount
        else:
            side.pop(price, None)
