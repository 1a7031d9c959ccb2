"""The engine as an event observer of the collector: markets build the graph, records feed it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from core.arbitrage.engine import ArbitrageEngine, ticker_top
from core.arbitrage.settings import ArbitrageSettings
from core.arbitrage.sink import MemorySink, OpportunitySink
from core.clock import SYSTEM_CLOCK, Clock
from core.models import Market, OrderBook, Quote, Record, Ticker


class ArbitrageObserver:
    """Implements :class:`~core.hookspecs.EventObserver` for one instance.

    Records other than quotes, books and tickers with sizes are ignored. Each market's latest state
    is applied to the engine after every batch, or, when ``deferred``, at each :meth:`drain` (the
    collector drains before each store flush: the opportunities go out in the same flush, and a
    market updated by several batches in between is evaluated once). The engine's changes then go
    to ``sink`` (an in-memory :class:`MemorySink` unless one is given). At most every
    ``stale_check`` seconds a drain also flags opportunities whose legs stopped updating.

    A market whose book, quote or ticker reaches the collector more than ``stale_after_ms`` after its
    exchange event time (when it carries one) is *late*: a collector or a connection lagging the
    market. Its book is withdrawn and its quotes ignored until a record arrives on time again, so
    books from different moments (one connection minutes behind another) never make a cycle.
    """

    def __init__(
        self,
        instance: str,
        settings: ArbitrageSettings | None = None,
        *,
        sink: OpportunitySink | None = None,
        clock: Clock = SYSTEM_CLOCK,
        stale_check: float = 0.1,
        deferred: bool = False,
    ) -> None:
        self.engine = ArbitrageEngine(instance, settings, clock)
        self.sink: OpportunitySink = sink if sink is not None else MemorySink()
        self.deferred = deferred
        self._clock = clock
        self._stale_check = stale_check
        self._next_stale_check = clock.monotonic()
        self._late_after = self.engine.settings.stale_after_ms
        self.late: set[str] = set()
        """Symbols whose data arrives late (withdrawn from the engine)."""
        self._books: dict[str, OrderBook] = {}
        self._quotes: dict[str, Quote] = {}
        self._tickers: dict[str, Ticker] = {}
        self._withdrawn: list[str] = []

    def on_markets(self, markets: Sequence[Market]) -> None:
        """Rebuild the graph and cycles from the instance's markets."""
        self.engine.load_markets(markets)
        self._flush()

    def on_records(self, records: Sequence[Record]) -> None:
        """Take a batch of records; unless ``deferred``, :meth:`drain` at once.

        Only each market's state at the end is kept: its last book, its last ticker and its last
        quote, each only if it came after the book (a quote with an update id stays: the engine
        orders it against the book by that id). The opportunities are the same as with every record
        applied in turn; a cycle that would open and close again in between (a few ms of market
        data) is not reported.
        """
        books, quotes, tickers = self._books, self._quotes, self._tickers
        late, late_after = self.late, self._late_after
        withdrawn = self._withdrawn
        # Records are the model classes themselves, so their exact type is compared: isinstance()
        # against another pydantic class runs its metaclass's check in Python, ~10x the cost. Their
        # fields are read from __dict__: each attribute read on a model passes pydantic's hook.
        for record in records:
            kind = type(record)
            if kind is not Quote and kind is not OrderBook and kind is not Ticker:
                continue
            fields: dict[str, Any] = record.__dict__
            symbol: str = fields["symbol"]
            if kind is Quote:
                quotes[symbol] = cast(Quote, record)
            elif kind is OrderBook:
                books[symbol] = cast(OrderBook, record)
                tickers.pop(symbol, None)
                pending = quotes.get(symbol)
                if pending is not None and (pending.sequence is None or fields["sequence"] is None):
                    del quotes[symbol]
            elif ticker_top(cast(Ticker, record)) is not None:
                tickers[symbol] = cast(Ticker, record)
            else:
                continue
            event_time: int | None = fields["event_time"]  # (REST books and Binance's quotes have none)
            if event_time is None:
                continue
            if fields["receive_time"] - event_time <= late_after:
                late.discard(symbol)
            elif symbol not in late:
                late.add(symbol)
                withdrawn.append(symbol)
        if not self.deferred:
            self.drain()

    def drain(self) -> None:
        """Apply the state taken since the last drain, then publish what changed."""
        engine = self.engine
        if self._withdrawn:
            for symbol in self._withdrawn:
                engine.withdraw(symbol)
            self._withdrawn = []
        late, apply = self.late, engine.apply
        groups: tuple[Mapping[str, Record], ...] = (self._books, self._tickers, self._quotes)
        for group in groups:
            for symbol, record in group.items():
                if symbol not in late:
                    apply(record)
        self._books, self._quotes, self._tickers = {}, {}, {}
        now = self._clock.monotonic()
        if now >= self._next_stale_check:
            self._next_stale_check = now + self._stale_check
            engine.flag_stale()
        self._flush()

    def _flush(self) -> None:
        changed, closed = self.engine.take_changes()
        if changed or closed:
            self.sink.publish(self.engine.instance, changed, closed)
