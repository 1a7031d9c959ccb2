"""Collector counters (in-process and in the instance's Redis stats hash) and rate-limited warnings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.clock import Clock
from core.store import StoreWriter

COUNTERS: tuple[str, ...] = (
    "messages",
    "records",
    "reconnects",
    "resyncs",
    "rest_calls",
    "rest_weight",
    "rate_limit_waits",
    "errors",
)
"""Every counter an instance keeps; all start at zero."""


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
