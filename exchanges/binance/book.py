"""A local Binance order book kept from one REST snapshot plus the ``depth@100ms`` diff stream.

The procedure is Binance's own ("How to manage a local order book correctly"):

1. buffer the diff events while the snapshot is fetched;
2. drop every buffered event with ``u <= lastUpdateId``;
3. the first event applied must have ``U <= lastUpdateId + 1 <= u``;
4. from then on every event's ``U`` is the previous event's ``u + 1``.

A broken chain raises :class:`~core.errors.SequenceGapError`; the owner then resyncs *this* book
(new snapshot, same connection). An amount of zero removes a price level. The levels of each side
are kept by a :class:`~exchanges.binance.levels.BookSide` of the kit the parser checked the diffs
with (native C when built, see :mod:`exchanges.binance.levels`).
"""

from __future__ import annotations

from decimal import Decimal

from core.errors import SequenceGapError
from core.models import CheckedLevels
from exchanges.binance.levels import ACTIVE, DEFAULT_MAX_LEVELS, LevelsKit
from exchanges.binance.parsers import DepthDiff, DepthSnapshot

MAX_BUFFERED = 2_000
"""Diff events held while a snapshot is on its way (≈ 200 s at 100 ms); beyond that the oldest go."""


class LocalBook:
    """The book state of one symbol and its synchronisation with the diff stream.

    ``kit`` must be the one whose ``check`` made the diffs' rows (the parser's
    :attr:`~exchanges.binance.parsers.BinanceParser.levels_kit`). Each side keeps at most about
    ``max_levels`` levels, the best ones (0: no bound; see
    :data:`~exchanges.binance.levels.DEFAULT_MAX_LEVELS`).
    """

    def __init__(self, symbol: str, kit: LevelsKit = ACTIVE, max_levels: int = DEFAULT_MAX_LEVELS) -> None:
        self.symbol = symbol
        self.kit = kit
        self._bids = kit.side(descending=True, max_levels=max_levels)
        self._asks = kit.side(descending=False, max_levels=max_levels)
        self.last_update_id: int | None = None
        self.event_time: int | None = None
        self._bridged = False
        self._buffer: list[DepthDiff] = []

    @property
    def bids(self) -> dict[Decimal, Decimal]:
        """Bid amounts by price (a copy)."""
        return self._bids.to_dict()

    @property
    def asks(self) -> dict[Decimal, Decimal]:
        """Ask amounts by price (a copy)."""
        return self._asks.to_dict()

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
        self._bids.load(self.kit.snapshot_rows(snapshot.bids))
        self._asks.load(self.kit.snapshot_rows(snapshot.asks))
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
                f"{self.symbol}: depth update {diff.first_id}..{diff.last_id} does not follow {last}"
            )
        self._bids.apply(diff.bids)
        self._asks.apply(diff.asks)
        self.last_update_id = diff.last_id
        self.event_time = diff.event_time
        self._bridged = True
        return True

    def top(self, levels: int) -> tuple[CheckedLevels, CheckedLevels]:
        """The best ``levels`` bids (descending) and asks (ascending). Do not modify the lists."""
        return self._bids.top(levels), self._asks.top(levels)
