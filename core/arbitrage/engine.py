"""The incremental arbitrage engine of one instance.

``load_markets`` builds the graph, enumerates the cycles once and indexes them by edge. Each book
update then touches only the cycles through that market:

* **screen** — every edge keeps a float log-rate (top-of-book price and taker fee). The cycles through
  the updated edge are screened in C-level iteration (``map``/``compress``) by the sum of their edges'
  log-rates against ``log(1 + threshold) - epsilon``. The exact return at any size is never above the
  top-of-book return, and epsilon dwarfs the float error, so the screen has no false negatives.
  Each edge keeps the set of its cycles that pass; only an edge whose rate changed is screened
  again (a size-only update re-evaluates the passing set as it stands);
* **exact** — only cycles that pass are evaluated with :func:`~core.arbitrage.evaluate.evaluate`
  (decimals, fees, lots, minimums, depth). Its result is what is reported.

The current opportunities are kept by cycle; ``take_changes`` hands out what opened, changed or
closed since the last call.

Records of one market come from streams that do not wait for each other, so the engine orders them:

* a quote and a book that both carry the venue's update id (``sequence``; Binance's ``bookTicker``
  and depth count the same book updates) are ordered by it: a quote older than the latest book is
  skipped, and a book older than the latest quote keeps that quote as its top. Only within
  :data:`SEQUENCE_WINDOW_MS` of the other record, so update ids that restart (a venue restarted)
  cannot freeze a market;
* a 24h ticker's best bid and ask are a summary, up to a second old: they feed a market only while
  no quote or book of it arrived within ``stale_after_ms``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal, localcontext
from itertools import compress
from operator import add
from typing import Any, cast

from core.arbitrage.book import Book, Level, from_levels, from_quote
from core.arbitrage.evaluate import CONTEXT, Evaluation, LegSpec, evaluate
from core.arbitrage.graph import Cycle, MarketGraph
from core.arbitrage.models import Opportunity, OpportunityLeg
from core.arbitrage.settings import ArbitrageSettings
from core.clock import SYSTEM_CLOCK, Clock
from core.models import Market, OrderBook, Quote, Record, Ticker

NO_RATE = -math.inf
SEQUENCE_WINDOW_MS = 2_000
"""How long a market's latest quote or book, by its update id, orders the other stream's records."""
NEVER = -(2**62)


def ticker_top(ticker: Ticker) -> tuple[Level, Level] | None:
    """The ``(bid, ask)`` levels of a ticker that carries both prices and both sizes, else ``None``."""
    bid, bid_size, ask, ask_size = ticker.bid, ticker.bid_size, ticker.ask, ticker.ask_size
    if bid is None or bid_size is None or ask is None or ask_size is None:
        return None
    return (bid, bid_size), (ask, ask_size)


class _Group:
    """The cycles of one length through one edge: their ids and, per other leg, the edge indices."""

    __slots__ = ("columns", "cycles")

    def __init__(self) -> None:
        self.cycles: list[int] = []
        self.columns: list[list[int]] = []


class ArbitrageEngine:
    """Detects profitable conversion cycles of one instance, incrementally."""

    _closed: set[str]  # keys of cycles closed since the last take_changes

    def __init__(
        self, instance: str, settings: ArbitrageSettings | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.instance = instance
        self.settings = settings or ArbitrageSettings()
        self._clock = clock
        fee = self.settings.taker_fee
        self._fee = fee
        self._threshold = self.settings.min_net_return
        self._log_keep = math.log1p(-float(fee)) if fee < 1 else NO_RATE
        hurdle = 1.0 + float(self._threshold)
        self._bound = (math.log(hurdle) if hurdle > 0 else NO_RATE) - self.settings.screen_epsilon
        self._usd = frozenset(self.settings.usd_assets)
        self._stale_after_ms = self.settings.stale_after_ms
        self._use_event_time = self.settings.use_event_time
        self._load(MarketGraph((), self.settings.preferred_starts), {})

    # ---- market set ----------------------------------------------------------------------------
    def load_markets(self, markets: Iterable[Market]) -> None:
        """(Re)build the graph and cycles; books of markets still listed are kept and re-evaluated."""
        old = {self.graph.markets[i].symbol: book for i, book in enumerate(self._books) if book}
        closed = self._closed | {self.cycles[c].key for c in self._active}
        self._load(MarketGraph(markets, self.settings.preferred_starts), old)
        self.recompute_all()
        self._closed = closed.difference(o.id for o in self._active.values())

    def _load(self, graph: MarketGraph, books: dict[str, Book]) -> None:
        self.graph = graph
        self.cycles: list[Cycle] = graph.cycles(self.settings.max_legs)
        count = len(graph.markets)
        self._books: list[Book | None] = [books.get(m.symbol) for m in graph.markets]
        self._direct_time: list[int] = [NEVER] * count
        """Per market, the time of its latest quote or book (a ticker's top yields to them)."""
        self._quote_seq: list[tuple[int, int, Level, Level] | None] = [None] * count
        """Per market, its latest quote with an update id: (update id, time, bid, ask)."""
        self._book_seq: list[tuple[int, int] | None] = [None] * count
        """Per market, its latest book with an update id: (update id, time)."""
        self._rates: list[float] = [NO_RATE] * (2 * count)
        self._passing: list[set[int]] = [set() for _ in range(2 * count)]
        """Per edge, the cycles through it that pass the screen at the current rates."""
        for i, book in enumerate(self._books):
            if book is not None:
                self._set_rates(i, book)
        self._specs = [
            LegSpec(e.symbol, e.side, m.amount_increment, m.min_amount, m.min_notional)
            for e in graph.edges
            for m in (graph.markets[e.market],)
        ]
        groups: list[dict[int, _Group]] = [{} for _ in graph.edges]
        for cycle in self.cycles:
            for pos, edge in enumerate(cycle.edges):
                group = groups[edge].setdefault(len(cycle.edges), _Group())
                if not group.columns:
                    group.columns = [[] for _ in range(len(cycle.edges) - 1)]
                group.cycles.append(cycle.index)
                others = cycle.edges[pos + 1 :] + cycle.edges[:pos]
                for column, other in zip(group.columns, others, strict=True):
                    column.append(other)
        self._groups: list[tuple[_Group, ...]] = [tuple(g.values()) for g in groups]
        self._through: list[list[int]] = [[] for _ in range(count)]  # market -> cycles (for reference)
        for cycle in self.cycles:
            for market in cycle.markets:
                self._through[market].append(cycle.index)
        self._usd_pairs: list[str | None] = [None] * count  # market -> asset it values in USD
        for i, m in enumerate(graph.markets):
            if m.quote in self._usd and m.base not in self._usd:
                self._usd_pairs[i] = m.base
            elif m.base in self._usd and m.quote not in self._usd:
                self._usd_pairs[i] = m.quote
        self._active: dict[int, Opportunity] = {}
        self._active_by_market: list[set[int]] = [set() for _ in range(count)]
        self._active_by_start: dict[str, set[int]] = {}
        self._changed: dict[int, Opportunity] = {}
        self._closed = set()

    # ---- updates -------------------------------------------------------------------------------
    def apply(self, record: Record) -> None:
        """Feed one record: a Quote, an OrderBook, or a Ticker with bid, ask and both sizes."""
        kind = type(record)  # (exact types: isinstance() on another pydantic model costs ~10x)
        if kind is not Quote and kind is not OrderBook and kind is not Ticker:
            return
        fields: dict[str, Any] = record.__dict__  # one attribute read instead of several
        event_time: int | None = fields["event_time"]
        time: int = event_time if self._use_event_time and event_time is not None else fields["receive_time"]
        if kind is Quote:
            bid_level, ask_level = (fields["bid"], fields["bid_size"]), (fields["ask"], fields["ask_size"])
            self.update_top(fields["symbol"], bid_level, ask_level, time, sequence=fields["sequence"])
        elif kind is OrderBook:
            self.update_book(fields["symbol"], fields["bids"], fields["asks"], time, fields["sequence"])
        elif (top := ticker_top(cast(Ticker, record))) is not None:
            self.update_top(fields["symbol"], *top, time, summary=True)

    def update_top(
        self,
        symbol: str,
        bid: Level,
        ask: Level,
        time: int,
        *,
        sequence: int | None = None,
        summary: bool = False,
    ) -> None:
        """A new best bid and ask (``(price, amount)`` each) for ``symbol`` at ``time`` (Unix ms).

        ``sequence`` is the venue's update id of this state, if it sends one that counts the same
        updates as its books'; a ``summary`` top (a 24h ticker's) is ignored while the market has a
        quote or book from the last ``stale_after_ms``.
        """
        market = self.graph.index.get(symbol)
        if market is None:
            return
        direct = self._direct_time
        if summary:
            if time - direct[market] <= self._stale_after_ms:
                return
        else:
            direct[market] = max(direct[market], time)
            if sequence is not None:
                book = self._book_seq[market]
                if book is not None and sequence <= book[0] and time - book[1] <= SEQUENCE_WINDOW_MS:
                    return  # the latest book is as new: its top stands
                self._quote_seq[market] = (sequence, time, bid, ask)
        self._replace(market, from_quote(self._books[market], bid, ask, time))

    def update_book(
        self,
        symbol: str,
        bids: Sequence[Level],
        asks: Sequence[Level],
        time: int,
        sequence: int | None = None,
    ) -> None:
        """A new book snapshot for ``symbol``: bids best first, asks best first; ``sequence`` is the
        venue's update id of this state, if it sends one."""
        market = self.graph.index.get(symbol)
        if market is None:
            return
        self._direct_time[market] = max(self._direct_time[market], time)
        book = from_levels(bids, asks, time)
        if sequence is not None:
            self._book_seq[market] = (sequence, time)
            quote = self._quote_seq[market]
            if quote is not None and quote[0] > sequence and time - quote[1] <= SEQUENCE_WINDOW_MS:
                book = from_quote(book, quote[2], quote[3], time)  # the newer quote stays on top
        self._replace(market, book)

    def withdraw(self, symbol: str) -> None:
        """Take ``symbol``'s book out until it updates again (its data is late): the cycles through
        it close, and none opens through it meanwhile."""
        market = self.graph.index.get(symbol)
        if market is None or self._books[market] is None:
            return
        self._books[market] = None
        for edge in (2 * market, 2 * market + 1):
            self._rates[edge] = NO_RATE
            self._rescreen(edge)
        for cycle_id in list(self._active_by_market[market]):
            self._close(cycle_id)

    def _set_rates(self, market: int, book: Book) -> None:
        keep = self._log_keep
        rates = self._rates
        best_bid, best_ask = book.best_bid, book.best_ask
        bid = float(best_bid) if best_bid is not None else 0.0
        ask = float(best_ask) if best_ask is not None else 0.0
        rates[2 * market] = math.log(bid) + keep if bid > 0 else NO_RATE
        # an ask too small for a float must not screen its cycles out: rate it +inf
        if best_ask is None:
            rates[2 * market + 1] = NO_RATE
        else:
            rates[2 * market + 1] = keep - math.log(ask) if ask > 0 else math.inf

    def _replace(self, market: int, book: Book) -> None:
        self._books[market] = book
        rates, bid_edge, ask_edge = self._rates, 2 * market, 2 * market + 1
        old_bid, old_ask = rates[bid_edge], rates[ask_edge]
        self._set_rates(market, book)
        if rates[bid_edge] != old_bid:
            self._rescreen(bid_edge, worse=rates[bid_edge] < old_bid)
        if rates[ask_edge] != old_ask:
            self._rescreen(ask_edge, worse=rates[ask_edge] < old_ask)
        # a size-only change (about half the updates) keeps every screen result: re-evaluate the
        # cycles that pass, whose exact result depends on this market's amounts and depth
        passing_bids, passing_asks = self._passing[bid_edge], self._passing[ask_edge]
        active = self._active_by_market[market]
        if active:
            for cycle_id in [c for c in active if c not in passing_bids and c not in passing_asks]:
                self._close(cycle_id)
        for passing in (passing_bids, passing_asks):
            for cycle_id in sorted(passing):
                self._evaluate(cycle_id)
        asset = self._usd_pairs[market]
        if asset is not None and asset in self._active_by_start:
            self._revalue(asset)

    def _rescreen(self, edge: int, *, worse: bool = False) -> None:
        """Screen the cycles through ``edge`` after its rate changed; keep every edge's passing set.

        When the rate got ``worse`` only the cycles that passed before can still pass (the other
        edges' rates did not move), so only they are screened again: about half of all changes.
        """
        before = self._passing[edge]
        if worse:
            if not before:
                return
            now = self._screen_passing(edge, before)
        else:
            now = self._screen(edge)
        if not now and not before:
            return
        after = set(now)
        cycles, passing = self.cycles, self._passing
        for cycle_id in after - before:
            for other in cycles[cycle_id].edges:
                passing[other].add(cycle_id)
        for cycle_id in before - after:
            for other in cycles[cycle_id].edges:
                passing[other].discard(cycle_id)

    def _screen(self, edge: int) -> list[int]:
        """Cycles through ``edge`` whose float top-of-book log-return may be above the threshold."""
        rate = self._rates[edge]
        if rate == NO_RATE:
            return []
        limit = self._bound - rate
        get = self._rates.__getitem__
        passing: list[int] = []
        for group in self._groups[edge]:
            columns = group.columns
            sums: Any = map(get, columns[0])
            for column in columns[1:]:
                sums = map(add, sums, map(get, column))
            passing += compress(group.cycles, map(limit.__lt__, sums))
        return passing

    def _screen_passing(self, edge: int, before: set[int]) -> list[int]:
        """:meth:`_screen` restricted to the cycles in ``before``, summing the same rates in the same
        order (each cycle's other edges from the one after ``edge`` on), so both decide alike."""
        rate = self._rates[edge]
        if rate == NO_RATE:
            return []
        limit = self._bound - rate
        rates, cycles = self._rates, self.cycles
        passing: list[int] = []
        for cycle_id in before:
            edges = cycles[cycle_id].edges
            pos = edges.index(edge)
            others = edges[pos + 1 :] + edges[:pos]
            total = rates[others[0]]
            for other in others[1:]:
                total += rates[other]
            if limit < total:
                passing.append(cycle_id)
        return passing

    def recompute_all(self, *, exact: bool = False) -> None:
        """Evaluate every cycle from the current books (after a market reload, or to compare);
        ``exact`` skips the float screen and evaluates every cycle with decimals."""
        bound = self._bound
        rates = self._rates
        passing = self._passing
        for edge_set in passing:
            edge_set.clear()
        for cycle in self.cycles:
            screened = sum(rates[e] for e in cycle.edges) > bound
            if screened:
                for edge in cycle.edges:
                    passing[edge].add(cycle.index)
            if exact or screened:
                self._evaluate(cycle.index)
            elif cycle.index in self._active:
                self._close(cycle.index)

    # ---- exact evaluation ----------------------------------------------------------------------
    def _evaluate(self, cycle_id: int) -> None:
        cycle = self.cycles[cycle_id]
        books = self._books
        levels: list[Sequence[Level]] = []
        oldest = None
        for edge in cycle.edges:
            book = books[edge >> 1]
            if book is None:
                break
            levels.append(book.asks if edge & 1 else book.bids)
            oldest = book.time if oldest is None or book.time < oldest else oldest
        result = None
        if oldest is not None and len(levels) == len(cycle.edges):
            specs = [self._specs[e] for e in cycle.edges]
            result = evaluate(specs, levels, self._fee, self._threshold)
        if result is None or oldest is None:
            if cycle_id in self._active:
                self._close(cycle_id)
            return
        self._open(cycle, result, oldest)

    def _open(self, cycle: Cycle, result: Evaluation, oldest: int) -> None:
        now = self._clock.now_ms()
        age = max(now - oldest, 0)
        start = cycle.assets[0]
        legs = tuple(
            OpportunityLeg.model_construct(
                symbol=self._specs[e].symbol, side=self._specs[e].side, price=f.price, amount=f.amount
            )
            for e, f in zip(cycle.edges, result.fills, strict=True)
        )
        opportunity = Opportunity.model_construct(
            instance=self.instance,
            id=cycle.key,
            path=(*cycle.assets, start),
            legs=legs,
            gross_return=result.gross_return,
            net_return=result.net_return,
            size=result.size,
            size_usd=self.usd_value(start, result.size),
            oldest_quote_age_ms=age,
            detected_at=now,
            stale=age > self.settings.stale_after_ms,
        )
        if cycle.index not in self._active:
            for market in cycle.markets:
                self._active_by_market[market].add(cycle.index)
            self._active_by_start.setdefault(start, set()).add(cycle.index)
        self._active[cycle.index] = opportunity
        self._changed[cycle.index] = opportunity
        self._closed.discard(cycle.key)

    def _close(self, cycle_id: int) -> None:
        cycle = self.cycles[cycle_id]
        del self._active[cycle_id]
        for market in cycle.markets:
            self._active_by_market[market].discard(cycle_id)
        starts = self._active_by_start[cycle.assets[0]]
        starts.discard(cycle_id)
        if not starts:
            del self._active_by_start[cycle.assets[0]]
        self._changed.pop(cycle_id, None)
        self._closed.add(cycle.key)

    def _revalue(self, asset: str) -> None:
        for cycle_id in self._active_by_start[asset]:
            opportunity = self._active[cycle_id]
            value = self.usd_value(asset, opportunity.size)
            if value != opportunity.size_usd:
                opportunity = opportunity.model_copy(update={"size_usd": value})
                self._active[cycle_id] = opportunity
                self._changed[cycle_id] = opportunity

    def usd_value(self, asset: str, amount: Decimal) -> Decimal | None:
        """``amount`` of ``asset`` in USD: 1:1 for a USD-ish asset, else through the first USD-ish
        market with a book (selling at its bid, or buying its base at the ask); ``None`` if none."""
        if asset in self._usd:
            return amount
        index = self.graph.index
        with localcontext(CONTEXT):
            for usd in self.settings.usd_assets:
                market = index.get(f"{asset}/{usd}")
                book = self._books[market] if market is not None else None
                best = book.best_bid if book is not None else None
                if best is not None:
                    return amount * best
                market = index.get(f"{usd}/{asset}")
                book = self._books[market] if market is not None else None
                best = book.best_ask if book is not None else None
                if best is not None:
                    return amount / best
        return None

    # ---- results -------------------------------------------------------------------------------
    def opportunities(self) -> list[Opportunity]:
        """The current opportunities, best net return first."""
        return sorted(self._active.values(), key=lambda o: (-o.net_return, o.id))

    def flag_stale(self) -> int:
        """Flag the current opportunities whose oldest quote has aged past ``stale_after_ms`` since
        detection (its legs stopped updating); return how many were flagged. Their figures stay."""
        limit = self.settings.stale_after_ms
        now = self._clock.now_ms()
        flagged = 0
        for cycle_id, opportunity in self._active.items():
            quoted_at = opportunity.detected_at - opportunity.oldest_quote_age_ms
            if not opportunity.stale and now - quoted_at > limit:
                flagged_copy = opportunity.model_copy(update={"stale": True})
                self._active[cycle_id] = self._changed[cycle_id] = flagged_copy
                flagged += 1
        return flagged

    def take_changes(self) -> tuple[list[Opportunity], list[str]]:
        """Opportunities opened or changed, and ids of those closed, since the last call."""
        changed = list(self._changed.values())
        closed = sorted(self._closed)
        self._changed.clear()
        self._closed.clear()
        return changed, closed

    def cycles_through(self, symbol: str) -> list[Cycle]:
        """The cycles that trade ``symbol``."""
        market = self.graph.index.get(symbol)
        return [] if market is None else [self.cycles[c] for c in self._through[market]]
