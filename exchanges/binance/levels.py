"""One side of a local order book, and the check of a depth event's rows it takes.

Two implementations with one interface and the same results:

* **native** (``exchanges/binance/_levels.c``, built at install when a C compiler is there) keeps
  each level as the venue's own text, ordered by an exact scaled-integer price. A diff is applied
  without creating Python objects; the top levels carry their JSON
  (:class:`~core.models.EncodedLevels`), written by copying that text, and each level's
  ``(Decimal, Decimal)`` tuple is made only when the level first reaches a top. ``bench.pipeline``
  on the sim's whole mix: 25.8 µs per frame with the Python sides, 17.5 with these.
* **python** keeps ``(Decimal, Decimal)`` tuples by price plus the ascending list of prices.

:data:`ACTIVE` is the native kit when the extension is built, else the Python one. The native
book takes plain decimal text (``"0.35130000"``); other text a ``Decimal`` accepts (``"1E-8"``)
is rewritten to plain text first. It refuses what its exact key cannot hold: more than 19
integer digits, 18 decimal places or 40 characters (Binance sends at most 8 decimal places).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

from core.decimals import MAX_MAGNITUDE, check_magnitude
from core.models import BookLevel, CheckedLevels

DEFAULT_MAX_LEVELS = 1_000
"""Levels a side keeps at most. The diff stream reports changes at any depth, so an unbounded book
grows for as long as the collector runs (a busy symbol's book can reach thousands of levels). Levels
beyond a REST snapshot's depth are partial anyway (Binance: "you won't learn the quantities for the
levels outside of the initial snapshot unless they change"); keeping the best 1,000 (≥ the snapshot
the adapter fetches) bounds memory without changing the stored top."""

Rows = list[Any]
"""A depth event's levels as a side takes them: what its kit's ``check`` returned."""


class BookSide(Protocol):
    """One side of a local book: bids (``descending``, best = highest) or asks.

    With ``max_levels``, a side that grows an eighth beyond it drops its worst levels down to
    ``max_levels`` (see :data:`DEFAULT_MAX_LEVELS`).

    A side may have an *edge*: the worst price up to which it knows every level. Beyond it the side
    holds only the levels that changed since it was loaded (Binance: "price levels outside of the
    initial snapshot that don't have a quantity change will not have updates"). A partial load sets
    it at the worst loaded level; dropping the worst levels moves it to the worst level kept.
    """

    def load(self, rows: Rows, *, partial: bool = False) -> None:
        """Replace every level with ``rows`` (zero amounts are skipped). ``partial``: the rows are
        the best levels only (a snapshot that returned as many as asked): the edge is the worst."""

    def known(self, levels: int, /) -> int:
        """How many of the best ``levels`` levels lie inside the edge (``levels`` when there is none)."""

    def apply(self, rows: Rows) -> None:
        """Apply changed levels in order; an amount of zero removes the level."""

    def top(self, levels: int) -> CheckedLevels:
        """The best ``levels`` levels, best first. Cached; do not modify the list."""

    def to_dict(self) -> dict[Decimal, Decimal]:
        """Every level, amount by price (a new dict)."""

    def clear(self) -> None:
        """Remove every level."""

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class LevelsKit:
    """An implementation of book sides: how a depth event's rows are checked, and the sides."""

    name: str
    check: Callable[[Any], Rows]
    """A diff's ``[[price, amount], …]`` as its sides take them; raises ``TypeError``/``ValueError``/
    ``IndexError`` when a level is malformed (not decimal text, price not positive, amount negative)."""
    side: Callable[..., BookSide]
    """``side(descending=…, max_levels=…)``: a new, empty side."""
    snapshot_rows: Callable[[list[BookLevel]], Rows]
    """A parsed REST snapshot's levels as rows for :meth:`BookSide.load`."""


_TEXT = frozenset({str})


def levels(rows: Sequence[Sequence[str]]) -> list[BookLevel]:
    """``[["0.35130000", "6195.00000000"], …]`` → exact ``(price, amount)`` pairs.

    Depth diffs carry dozens of levels each, so the checks of :func:`~core.decimals.exact` (text
    only, finite) are made once over the whole list instead of per value: ~25% faster. A price
    must be positive and an amount not negative (zero deletes a level), so the local book's levels
    are all positive (:class:`~core.models.CheckedLevels`).
    """
    prices = [row[0] for row in rows]
    texts = prices + [row[1] for row in rows]
    if not _TEXT.issuperset(map(type, texts)):
        raise TypeError("book levels must be decimal text")
    values = list(map(Decimal, texts))
    if not all(map(Decimal.is_finite, values)):
        raise ValueError("book levels must be finite")
    joined = "".join(texts)
    if "E" in joined or "e" in joined or max(map(len, texts), default=0) > MAX_MAGNITUDE:
        for value in values:
            check_magnitude(value)
    count = len(prices)
    if count and (min(values[:count]) <= 0 or min(values[count:]) < 0):
        raise ValueError("book levels must have positive prices and non-negative amounts")
    return list(zip(values[:count], values[count:], strict=True))


class PyLevels:
    """The Python book side: levels as the parser's ``(price, amount)`` tuples, by price, plus the
    ascending list of prices. The top is cached until a change reaches it."""

    def __init__(self, *, descending: bool, max_levels: int = 0) -> None:
        self.descending = descending
        self.max_levels = max(max_levels, 0)
        self._levels: dict[Decimal, BookLevel] = {}
        self._prices: list[Decimal] = []  # ascending, kept in step with ``_levels``
        self._top: tuple[int, CheckedLevels] | None = None
        self._edge: Decimal | None = None

    def __len__(self) -> int:
        return len(self._levels)

    def load(self, rows: Rows, *, partial: bool = False) -> None:
        self._levels = {level[0]: level for level in rows if level[1]}
        self._prices = sorted(self._levels)
        self._top = None
        self._edge = None
        self._bound()
        if partial:
            self._edge_at_worst()

    def known(self, levels: int, /) -> int:
        levels = max(levels, 0)
        if self._edge is None:
            return levels
        if self.descending:
            inside = len(self._prices) - bisect_left(self._prices, self._edge)
        else:
            inside = bisect_right(self._prices, self._edge)
        return min(levels, inside)

    def _edge_at_worst(self) -> None:
        """Nothing beyond the worst level held now is known."""
        if not self._prices:
            return
        if self.descending:
            worst = self._prices[0]
            self._edge = worst if self._edge is None else max(self._edge, worst)
        else:
            worst = self._prices[-1]
            self._edge = worst if self._edge is None else min(self._edge, worst)

    def apply(self, rows: Rows) -> None:
        if self._top is not None and self._reaches(rows, self._top[1], self._top[0]):
            self._top = None
        side, prices = self._levels, self._prices
        for level in rows:
            price = level[0]
            if level[1]:
                if price not in side:
                    insort(prices, price)
                side[price] = level
            elif price in side:
                del side[price]
                del prices[bisect_left(prices, price)]
        self._bound()

    def _bound(self) -> None:
        """Keep the best ``max_levels`` once the side holds an eighth more (drops come in chunks)."""
        most, prices = self.max_levels, self._prices
        if not most or len(prices) <= most + (most + 7) // 8:
            return
        drop = len(prices) - most
        worst = prices[:drop] if self.descending else prices[-drop:]
        for price in worst:
            del self._levels[price]
        if self.descending:
            del prices[:drop]
        else:
            del prices[-drop:]
        self._edge_at_worst()
        if self._top is not None and self._top[0] > most:
            self._top = None

    def _reaches(self, changes: Rows, top: CheckedLevels, levels: int) -> bool:
        """True when a change may alter ``top``: a change strictly behind its worst level cannot,
        unless the side has fewer levels than asked."""
        if not changes:
            return False
        if len(top) < levels or not top:
            return True
        if self.descending:
            return bool(max(changes)[0] >= top[-1][0])
        return bool(min(changes)[0] <= top[-1][0])

    def top(self, levels: int) -> CheckedLevels:
        cached = self._top
        if cached is not None and cached[0] == levels:
            return cached[1]
        if levels <= 0:
            best: list[Decimal] = []
        elif self.descending:
            best = self._prices[: -levels - 1 : -1]
        else:
            best = self._prices[:levels]
        side = self._levels
        # positive: the check refuses other prices and negative amounts, zero amounts are deleted
        found = CheckedLevels([side[p] for p in best])
        self._top = (levels, found)
        return found

    def to_dict(self) -> dict[Decimal, Decimal]:
        return dict(self._levels.values())

    def clear(self) -> None:
        self._levels.clear()
        self._prices.clear()
        self._top = None
        self._edge = None


PYTHON = LevelsKit("python", levels, PyLevels, lambda snapshot_levels: snapshot_levels)


def _plain_rows(snapshot_levels: list[BookLevel]) -> Rows:
    return [[format(price, "f"), format(amount, "f")] for price, amount in snapshot_levels]


def _native_kit() -> LevelsKit | None:
    try:
        from exchanges.binance import _levels
    except ImportError:
        return None
    native_check, not_plain = _levels.check_rows, _levels.NotPlainError

    def normalised(rows: Any) -> Rows:
        """Rows that are not plain text: another spelling a Decimal accepts, or a malformed row
        (:func:`levels` says what is wrong)."""
        plain = _plain_rows(levels(rows))
        try:
            return native_check(plain)
        except not_plain:
            raise ValueError("book levels beyond the native book's range (19 digits . 18 places)") from None

    # one C call for plain rows, the common case (a Python wrapper cost a frame per depth side)
    check: Callable[[Any], Rows] = partial(_levels.check_rows_or, normalised)

    def snapshot_rows(snapshot_levels: list[BookLevel]) -> Rows:
        return check(_plain_rows(snapshot_levels))

    return LevelsKit("native", check, _levels.Levels, snapshot_rows)


NATIVE = _native_kit()
"""The C implementation, or ``None`` when the extension was not built (no compiler at install)."""

KITS = [kit for kit in (NATIVE, PYTHON) if kit is not None]
ACTIVE: LevelsKit = KITS[0]
