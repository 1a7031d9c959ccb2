"""The engine as an event observer of the collector: markets build the graph, records feed it."""

from __future__ import annotations

from collections.abc import Sequence

from core.arbitrage.engine import ArbitrageEngine
from core.arbitrage.settings import ArbitrageSettings
from core.arbitrage.sink import MemorySink, OpportunitySink
from core.clock import SYSTEM_CLOCK, Clock
from core.models import Market, Record


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
        """Feed a batch of records, then publish what changed."""
        apply = self.engine.apply
        for record in records:
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
