"""Collector counters (in-process and in the instance's Redis stats hash) and rate-limited warnings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.clock import Clock
from core.store import StoreWriter

log = logging.getLogger(__name__)

COUNTER_DOCS: Mapping[str, str] = {
    "messages": "batches of records the instance's streams delivered",
    "records": "records handed to the store (live and backfilled)",
    "reconnects": "stream connections lost (or abandoned as stalled) and reconnected",
    "resyncs": "K-line backfills run, plus order books the streams resynced after a sequence gap",
    "rest_calls": "REST calls made through the instance's budget, the adapter's own (depth snapshots) too",
    "rest_weight": "the venue's weight (or requests) those calls cost",
    "rate_limit_waits": "REST calls that waited for room in the instance's budget",
    "errors": "failed REST calls, polls and market loads, and instance crashes",
    "book_refreshes": "order books refreshed from a deeper snapshot as their served levels neared its edge",
    "malformed": "stream frames or records that could not be parsed and were skipped",
    "conflated": "stream quotes and tickers skipped because a later frame replaced them (reader behind)",
    "depth_snapshots": "REST depth snapshots the streams fetched to sync order books",
    "depth_snapshot_failures": "of those, the ones that failed and were retried",
    "renewals": "stream connections replaced by a new one before they ended (serverShutdown, 24-hour cut)",
    "stale": "stream quotes, prices and kline updates skipped because a newer one was already read",
}
"""Every counter an instance keeps, and what it counts; all start at zero.

The last seven, and the book resyncs in ``resyncs``, come from the adapter's
:meth:`~core.adapter.ExchangeAdapter.stream_counters` (see :class:`StreamCounters`); an adapter
reports only those it has."""
COUNTERS: tuple[str, ...] = tuple(COUNTER_DOCS)
"""The names of :data:`COUNTER_DOCS`."""


class InstanceMetrics:
    """The counters of one instance: kept in memory (for /metrics) and added to Redis per flush."""

    def __init__(self, instance: str, writer: StoreWriter) -> None:
        self.instance = instance
        self._writer = writer
        self.counts: dict[str, int] = dict.fromkeys(COUNTERS, 0)

    def incr(self, counter: str, amount: int = 1) -> None:
        """Add ``amount`` to ``counter`` here and in the instance's stats hash."""
        if amount:
            self.counts[counter] = self.counts.get(counter, 0) + amount
            self._writer.incr(self.instance, counter, amount)

    def snapshot(self) -> Mapping[str, int]:
        """A copy of the counters."""
        return dict(self.counts)


class StreamCounters:
    """Adds what an adapter's stream counters grew by since the last :meth:`sync` to the instance's.

    ``read`` returns cumulative totals since the adapter was created (its ``stream_counters``), so one
    :class:`StreamCounters` serves one adapter; a restarted instance opens a new adapter and a new one.
    A total that fell is taken as the new base. A name not in :data:`COUNTERS` is ignored, with a warning.
    """

    def __init__(
        self, instance: str, read: Callable[[], Mapping[str, int]], metrics: InstanceMetrics
    ) -> None:
        self.instance = instance
        self._read = read
        self._metrics = metrics
        self._seen: dict[str, int] = {}
        self._ignored: set[str] = set()

    def sync(self) -> None:
        """Read the totals and add their growth to the instance's counters."""
        seen = self._seen
        for name, total in self._read().items():
            if name not in COUNTER_DOCS:
                if name not in self._ignored:
                    self._ignored.add(name)
                    log.warning("%s: the adapter reports an unknown counter %r; ignored", self.instance, name)
                continue
            grown = total - seen.get(name, 0)
            if grown > 0:
                self._metrics.incr(name, grown)
            seen[name] = total


@dataclass
class _Window:
    started: float
    emitted: int = 0
    suppressed: int = 0


@dataclass
class ThrottledLog:
    """Log at most ``burst`` messages per key every ``period`` seconds; count the rest and say so."""

    logger: logging.Logger
    clock: Clock
    period: float = 60.0
    burst: int = 3
    _windows: dict[str, _Window] = field(default_factory=dict)

    def warning(self, key: str, message: str, *args: Any) -> None:
        """A warning for ``key`` (e.g. ``"binance BTC/USDT depth"``), unless too many came lately."""
        self._emit(logging.WARNING, key, message, args)

    def error(self, key: str, message: str, *args: Any) -> None:
        """An error for ``key``, rate-limited like :meth:`warning`."""
        self._emit(logging.ERROR, key, message, args)

    def _emit(self, level: int, key: str, message: str, args: tuple[Any, ...]) -> None:
        now = self.clock.monotonic()
        window = self._windows.get(key)
        if window is None or now - window.started >= self.period:
            suppressed = window.suppressed if window is not None else 0
            window = self._windows[key] = _Window(now)
            if suppressed:
                message += " (%d similar messages suppressed)"
                args = (*args, suppressed)
        if window.emitted >= self.burst:
            window.suppressed += 1
            return
        window.emitted += 1
        self.logger.log(level, message, *args)
