"""The incremental ``market.$symbol.mbp.$levels`` book of one symbol and its ``seqNum`` chain.

HTX's documented procedure: subscribe, buffer the increments, ``req`` a snapshot (``{"seqNum",
"bids", "asks"}``), drop buffered increments with ``seqNum <= snapshot.seqNum``, then apply the rest
in order; each increment's ``prevSeqNum`` must equal the previous ``seqNum``. An amount of 0 removes
a level. A broken chain means the book must be requested again (:class:`SequenceGapError`).

Raw increment::

    {"ch": "market.btcusdt.mbp.150", "ts": 1573199608679, "tick": {"seqNum": 100020146795,
     "prevSeqNum": 100020146794, "bids": [], "asks": [[645.14, 26.75597395914065]]}}
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.decimals import to_decimal
from core.errors import BadResponseError, SequenceGapError
from core.models import BookLevel

MAX_BUFFERED = 5_000


class MbpBook:
    """Bids and asks as ``price -> amount`` after a snapshot and its chained increments."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.seq: int | None = None
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self._pending: list[Mapping[str, Any]] = []

    @property
    def synced(self) -> bool:
        """True once a snapshot was applied and the chain holds."""
        return self.seq is not None

    def reset(self) -> None:
        """Forget everything (before a resync)."""
        self.seq = None
        self.bids.clear()
        self.asks.clear()
        self._pending.clear()

    def increment(self, tick: Mapping[str, Any]) -> bool:
        """Apply (or buffer, before the snapshot) one increment; True when the book changed.

        Raises :class:`SequenceGapError` when ``prevSeqNum`` does not follow the last ``seqNum``.
        """
        if self.seq is None:
            if len(self._pending) >= MAX_BUFFERED:
                self._pending.pop(0)
            self._pending.append(tick)
            return False
        seq, prev = int(tick["seqNum"]), int(tick["prevSeqNum"])
        if seq <= self.seq:
            return False  # a duplicate or an increment the snapshot already holds
        if prev != self.seq:
            raise SequenceGapError(f"{self.symbol}: prevSeqNum {prev} does not follow seqNum {self.seq}")
        self._apply(tick)
        self.seq = seq
        return True

    def snapshot(self, data: Mapping[str, Any]) -> None:
        """Apply a ``req`` snapshot and the buffered increments that follow it.

        Raises :class:`SequenceGapError` when the buffer does not link to the snapshot (the first
        increment after it has ``prevSeqNum > seqNum``): request the snapshot again.
        """
        seq = int(data["seqNum"])
        self.bids = {p: a for p, a in _exact_rows(data["bids"]) if a}
        self.asks = {p: a for p, a in _exact_rows(data["asks"]) if a}
        pending, self._pending = self._pending, []
        self.seq = seq
        for tick in pending:
            self.increment(tick)

    def _apply(self, tick: Mapping[str, Any]) -> None:
        # every level is checked before any is applied: a malformed increment changes nothing
        bids, asks = _exact_rows(tick.get("bids") or ()), _exact_rows(tick.get("asks") or ())
        for side, rows in ((self.bids, bids), (self.asks, asks)):
            for price, amount in rows:
                if amount:
                    side[price] = amount
                else:
                    side.pop(price, None)

    def top(self, depth: int) -> tuple[list[BookLevel], list[BookLevel]]:
        """The best ``depth`` bids (descending) and asks (ascending)."""
        bids = sorted(self.bids.items(), reverse=True)[:depth]
        asks = sorted(self.asks.items())[:depth]
        return bids, asks


def _exact_rows(rows: Any) -> list[BookLevel]:
    """``[[price, amount], …]`` (Decimals from the JSON numbers) as exact, in-range levels; a level
    that is not raises :class:`~core.errors.BadResponseError`."""
    try:
        return [(to_decimal(price), to_decimal(amount)) for price, amount in rows]
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise BadResponseError(f"bad book level: {exc}") from None
