"""The engine as an event observer of the collector: markets build the graph, records feed it."""

from __future__ import annotations

from collections.abc import Sequence

from core.arbitrage.engine import ArbitrageEngine, ticker_top
from core.arbitrage.settings import ArbitrageSettings
from core.arbitrage.sink import MemorySink, OpportunitySink
from core.clock import SYSTEM_CLOCK, Clock
from core.models import Market, OrderBook, Quote, Record, Ticker


class ArbitrageObserver:
    """Implements :class:`~core.hookspecs.EventObserver` for one instance.

    After each batch the engine's changes go to ``sink`` (an in-memory :class:`MemorySink` unless
    one is given). Records other than quotes, books and tickers with sizes are ignored. At most every
    ``stale_check`` seconds a batch also flags opportunities whose legs stopped updating.
    """

    def __init__(
        self,
        instance: str,
        settings: ArbitrageSettings | None = None,
        *,
        sink: OpportunitySink | None = None,
        clock: Clock = SYSTEM_CLOCK,
        stale_check: float = 0.1,
    ) -> None:
        self.engine = ArbitrageEngine(instance, settings, clock)
        self.sink: OpportunitySink = sink if sink is not None else MemorySink()
        self._clock = clock
        self._stale_check = stale_check
        self._next_stale_check = clock.monotonic()

    def on_markets(self, markets: Sequence[Market]) -> None:
        """Rebuild the graph and cycles from the instance's markets."""
        self.engine.load_markets(markets)
        self._flush()

    def on_records(self, records: Sequence[Record]) -> None:
        """Feed a batch of records, then publish what changed.

        Only each market's state at the end of the batch is evaluated: its last book, then the last
        top-of-book update that came after it (a quote replaces an earlier quote entirely, a book
        replaces everything). The opportunities after the batch are the same as with every record
        applied in turn; a cycle that would open and close again inside one batch (a few ms of
        market data) is not reported.
        """
        books: dict[str, Record] = {}
        tops: dict[str, Record] = {}
        for record in records:
            if isinstance(record, Quote) or (isinstance(record, Ticker) and ticker_top(record) is not None):
                tops[record.symbol] = record
            elif isinstance(record, OrderBook):
                books[record.symbol] = record
                tops.pop(record.symbol, None)
        apply = self.engine.apply
        for record in books.values():
            apply(record)
        for record in tops.values():
            apply(record)
        now = self._clock.monotonic()
        if now >= self._next_stale_check:
            self._next_stale_check = now + self._stale_check
            self.engine.flag_stale()
        self._flush()

    def _flush(self) -> None:
        changed, closed = self.engine.take_changes()
        if changed or closed:
            self.sink.publish(self.engine.instance, changed, closed)
