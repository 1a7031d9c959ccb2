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

Rule 4 is checked as rule 3 is: an event continues the book when ``U <= last + 1 <= u``, and one
with ``u <= last`` is dropped. On one connection the two are the same (Binance's windows follow each
other). While a connection is handed over to a new one, both deliver the same updates, possibly cut
into different windows, and an event spanning updates the book already holds is still exact (it
carries each level's amount as of ``u``). Meanwhile an event ahead of the book (``U > last + 1``) is
held rather than a gap: the other connection may not have delivered the updates before it yet (see
:meth:`LocalBook.on_diff`). Buffered events are replayed in order of ``U``, so a buffer holding both
connections' events fills the book the same way.

A snapshot has a depth limit, and the diff stream reports a level beyond it only when that level
changes, so a book knows every level only up to its snapshot's worst price (its *edge*, when the
snapshot came back full). :meth:`LocalBook.known` says how many of the best levels lie inside it.
When the market moves towards the edge, :meth:`LocalBook.refresh` loads a new snapshot into a second
book fed the same diffs, and swaps it in once it is in sync: the book is served throughout.
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
        self._max_levels = max_levels
        self._bids = kit.side(descending=True, max_levels=max_levels)
        self._asks = kit.side(descending=False, max_levels=max_levels)
        self.last_update_id: int | None = None
        self.event_time: int | None = None
        self._buffer: list[DepthDiff] = []
        self._held: list[DepthDiff] = []
        """Events ahead of the book, taken while merging two connections (see :meth:`on_diff`)."""
        self._next: LocalBook | None = None
        """A book syncing with a new snapshot to replace this one's levels (see :meth:`refresh`)."""

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

    @property
    def refreshing(self) -> bool:
        """True while a synced book waits for the snapshot of a :meth:`refresh`."""
        return self._next is not None

    def known(self, levels: int) -> tuple[int, int]:
        """How many of the best ``levels`` bids and asks lie inside the book's edges, where every
        level is known (``levels`` each when the snapshot held the whole side)."""
        return self._bids.known(levels), self._asks.known(levels)

    def refresh(self) -> None:
        """Start syncing a new snapshot for this synced book while it goes on taking diffs; the next
        :meth:`on_snapshot` goes to it, and its levels replace these once it is in sync."""
        if self.synced and self._next is None:
            self._next = LocalBook(self.symbol, self.kit, self._max_levels)

    def reset(self) -> None:
        """Forget the state (after a gap): buffer diffs again until the next snapshot."""
        self._bids.clear()
        self._asks.clear()
        self.last_update_id = None
        self._buffer.clear()
        self._held.clear()
        self._next = None

    def on_diff(self, diff: DepthDiff, *, merging: bool = False) -> bool:
        """Take one diff event; True when the book changed.

        Before a snapshot the event is buffered. Raises :class:`SequenceGapError` when the event
        does not continue the chain; the event is then kept as the first of the new buffer.
        ``merging``: two connections deliver the same streams (a hand-over); an event ahead of the
        book is held until the updates before it arrive from the other one, and applied then. Once
        merging ends, the next event that does not continue the book is a gap.
        """
        if self.last_update_id is None:
            self._buffer.append(diff)
            if len(self._buffer) > MAX_BUFFERED:
                del self._buffer[0]
            return False
        try:
            if merging and diff.first_id > self.last_update_id + 1:
                self._hold(diff)
                changed = False
            else:
                changed = self._apply_in_order(diff)
                if changed and self._held:
                    self._apply_held()
        except SequenceGapError:
            self.reset()
            self._buffer.append(diff)
            raise
        if self._next is not None:
            self._next.on_diff(diff, merging=merging)
        return changed

    def _hold(self, diff: DepthDiff) -> None:
        self._held.append(diff)
        if len(self._held) > MAX_BUFFERED:
            del self._held[0]

    def _apply_held(self) -> None:
        """Apply the held events the book now reaches, in order; keep those still ahead of it."""
        held, self._held = sorted(self._held, key=_first_id), []
        for index, diff in enumerate(held):
            last = self.last_update_id
            assert last is not None
            if diff.first_id > last + 1:
                self._held = held[index:]
                return
            self._apply_in_order(diff)

    def on_snapshot(self, snapshot: DepthSnapshot, limit: int | None = None) -> None:
        """Load a REST snapshot and replay the buffered events that follow it. ``limit``: the depth
        asked for; a side that came back with that many levels is partial (it has an edge).

        Raises :class:`SequenceGapError` when the buffered events do not bridge the snapshot (the
        snapshot is older than the first event kept); the book is then reset and waits again. During
        a :meth:`refresh` only the new book waits again; this one is served meanwhile.
        """
        if self._next is not None and self.last_update_id is not None:
            if snapshot.last_update_id < self.last_update_id and not self._next.buffered:
                raise SequenceGapError(
                    f"{self.symbol}: snapshot {snapshot.last_update_id} is older than the book "
                    f"({self.last_update_id})"
                )
            self._next.on_snapshot(snapshot, limit)
            self._adopt(self._next)
            return
        pending, self._buffer = self._buffer, []
        full = limit if limit is not None else -1
        self._bids.load(self.kit.snapshot_rows(snapshot.bids), partial=len(snapshot.bids) == full)
        self._asks.load(self.kit.snapshot_rows(snapshot.asks), partial=len(snapshot.asks) == full)
        self.last_update_id = snapshot.last_update_id
        try:
            for diff in sorted(pending, key=_first_id):
                self._apply_in_order(diff)
        except SequenceGapError:
            self.reset()
            raise

    def _adopt(self, synced: LocalBook) -> None:
        """Take the levels and position of ``synced``, a refresh fed every diff this book took."""
        self._bids, self._asks = synced._bids, synced._asks
        self.last_update_id = synced.last_update_id
        self._held = synced._held
        self.event_time = synced.event_time or self.event_time
        self._next = None

    def _apply_in_order(self, diff: DepthDiff) -> bool:
        last = self.last_update_id
        assert last is not None
        if diff.last_id <= last:
            return False  # already contained in the snapshot, a replay or the other connection's events
        if diff.first_id > last + 1:
            raise SequenceGapError(
                f"{self.symbol}: depth update {diff.first_id}..{diff.last_id} does not follow {last}"
            )
        self._bids.apply(diff.bids)
        self._asks.apply(diff.asks)
        self.last_update_id = diff.last_id
        self.event_time = diff.event_time
        return True

    @property
    def servable(self) -> bool:
        """False when a side's edge has no level inside it: the best level of that side is unknown
        (an empty side whose snapshot held the whole side is servable: it is known to be empty)."""
        return self._bids.known(1) > 0 and self._asks.known(1) > 0

    def needs_refresh(self, levels: int) -> bool:
        """True when a synced book that is not refreshing knows fewer than its best ``levels`` on a
        side (the owner asks for a margin beyond the served levels: see
        :func:`~exchanges.binance.frames.refresh_levels`)."""
        if self.last_update_id is None or self._next is not None:
            return False
        return self._bids.known(levels) < levels or self._asks.known(levels) < levels

    def top(self, levels: int) -> tuple[CheckedLevels, CheckedLevels]:
        """The best ``levels`` bids (descending) and asks (ascending) inside the edges: fewer on a
        side whose edge is nearer (levels beyond it may be missing). Do not modify the lists."""
        known_bids, known_asks = self.known(levels)
        return self._bids.top(known_bids), self._asks.top(known_asks)


def _first_id(diff: DepthDiff) -> int:
    return diff.first_id
