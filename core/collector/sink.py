"""Where every normalized record of one instance goes: the store, then the observers.

The sink also keeps what the collector must remember about written data: the newest K-line open time
per (symbol, interval) — the cursor backfill continues from — and the recent trade ids per symbol, so
REST polling that sees a trade twice appends it once.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import cast

from core.clock import Clock
from core.collector.metrics import InstanceMetrics, ThrottledLog
from core.hookspecs import EventObserver
from core.intervals import Interval
from core.models import Kline, Record, Trade
from core.store import StoreWriter

log = logging.getLogger(__name__)

KlineKey = tuple[str, Interval]
"""``(symbol, interval)``."""

TRADE_MEMORY = 2_000
"""Trade ids remembered per symbol for de-duplication."""

LATE_AFTER_MS = 5_000
"""Live data received this long after its exchange event time is reported: the collector (or the
network) lags the market, and the API will flag such data stale."""


class _RecentIds:
    """A bounded set of the most recent ids."""

    def __init__(self, size: int) -> None:
        self._order: deque[str] = deque()
        self._ids: set[str] = set()
        self._size = size

    def add(self, item: str) -> bool:
        """Remember ``item``; False when it was already known."""
        if item in self._ids:
            return False
        self._ids.add(item)
        self._order.append(item)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


class RecordSink:
    """Store and publish batches of one instance's records."""

    def __init__(
        self,
        instance: str,
        writer: StoreWriter,
        observers: Sequence[EventObserver],
        metrics: InstanceMetrics,
        clock: Clock,
        *,
        utc_offset_ms: int = 0,
    ) -> None:
        self.instance = instance
        self.writer = writer
        self.observers = list(observers)
        self.metrics = metrics
        self.utc_offset_ms = utc_offset_ms
        self.kline_cursor: dict[KlineKey, int] = {}
        self.on_kline_gap: Callable[[KlineKey, int], None] | None = None
        self._trades: dict[str, _RecentIds] = {}
        self._warn = ThrottledLog(log, clock)
        self._late_log = ThrottledLog(log, clock, period=60.0, burst=1)  # a line a minute while it lasts

    def put(self, records: Sequence[Record], *, live: bool = False) -> int:
        """Write ``records``; return how many were new. ``live`` marks stream data (gap-checked)."""
        kept: list[Record] = []
        keep = kept.append
        recent_trades = self._trades
        # exact types: isinstance() against another pydantic class runs its metaclass's check in Python
        for record in records:
            kind = type(record)
            if kind is Trade:
                fields = record.__dict__
                symbol = fields["symbol"]
                seen = recent_trades.get(symbol)
                if seen is None:
                    seen = recent_trades[symbol] = _RecentIds(TRADE_MEMORY)
                if not seen.add(fields["id"]):
                    continue
            elif kind is Kline:
                self._advance_cursor(cast(Kline, record), live)
            keep(record)
        if not kept:
            return 0
        if live:
            self._check_lag(kept[-1])
        self.writer.put_many(kept)
        self.metrics.incr("records", len(kept))
        for observer in self.observers:
            try:
                observer.on_records(kept)
            except Exception as exc:
                self._warn.warning(
                    f"observer {type(observer).__name__}",
                    "%s: observer %s failed: %r",
                    self.instance,
                    type(observer).__name__,
                    exc,
                )
        return len(kept)

    def _check_lag(self, record: Record) -> None:
        """Warn (throttled) when a batch's newest record arrived long after the venue sent it."""
        event_time = record.event_time
        if event_time is not None and (lag := record.receive_time - event_time) > LATE_AFTER_MS:
            self._late_log.warning(
                "late",
                "%s: live data arrives %.1f s after its exchange event time: the collector lags the market"
                " (CPU saturated?) or the network is slow",
                self.instance,
                lag / 1000,
            )

    async def put_history(self, klines: Sequence[Kline]) -> int:
        """Write backfilled candles through the store's history lane; return how many."""
        for kline in klines:
            self._advance_cursor(kline, live=False)
        await self.writer.put_history(klines)
        self.metrics.incr("records", len(klines))
        return len(klines)

    def _advance_cursor(self, kline: Kline, live: bool) -> None:
        key = (kline.symbol, kline.interval)
        newest = self.kline_cursor.get(key)
        if newest is None or kline.open_time > newest:
            if (
                live
                and newest is not None
                and kline.open_time > kline.interval.next_open_time(newest, self.utc_offset_ms)
                and self.on_kline_gap is not None
            ):
                self.on_kline_gap(key, newest)
            self.kline_cursor[key] = kline.open_time
