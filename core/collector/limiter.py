"""The REST limiter in front of every call of one instance: a sliding window, venue feedback, pauses.

* **Sliding window**: the weight spent in any ``window`` seconds stays under ``budget``.
* **Venue feedback**: adapters that implement :class:`ReportsUsedWeight` tell how much of the
  venue's current (fixed, wall-clock aligned) window is used; when that plus the next call would pass
  the budget, calls wait for the venue's window to roll over.
* **Pauses**: a 429 (``RateLimitedError``) or a 418 ban stops every REST call of the instance until
  the venue's ``Retry-After`` (or a default) has passed.

Time comes from the injectable clock, so tests drive it without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Protocol, runtime_checkable

from core.clock import Clock
from core.errors import RateLimitedError

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 10.0
"""Seconds to pause after a 429 without ``Retry-After`` (besides waiting for the window to roll)."""
DEFAULT_BAN = 120.0
"""Seconds to pause after a ban (HTTP 418) without ``Retry-After``."""


@runtime_checkable
class ReportsUsedWeight(Protocol):
    """Optional adapter protocol: the venue's own count of the weight used in its current window.

    ``used_weight`` is the last reported value (e.g. Binance ``X-MBX-USED-WEIGHT-1M``) or ``None``;
    a property or a method returning it.
    """

    used_weight: object


def read_used_weight(adapter: object) -> int | None:
    """The used weight an adapter reports, from a ``used_weight`` property or method."""
    value = getattr(adapter, "used_weight", None)
    if callable(value):
        value = value()
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class RateLimiter:
    """Admit REST calls by weight; ``budget=None`` admits everything (pauses still apply)."""

    def __init__(self, budget: float | None, window: float, clock: Clock) -> None:
        self.budget = budget
        self.window = window
        self.clock = clock
        self.waits = 0
        self._spent: deque[tuple[float, int]] = deque()
        self._spent_sum = 0
        self._paused_until = 0.0
        self._venue_window = -1
        self._venue_used = 0
        self._lock = asyncio.Lock()

    def set_limit(self, budget: float | None, window: float) -> None:
        """Budget ``budget`` per ``window`` seconds from now on (e.g. the limit the venue published)."""
        self.budget = budget
        self.window = window

    # ---- admission ------------------------------------------------------------------------------
    def delay(self, weight: int) -> float:
        """Seconds to wait before ``weight`` may be spent (0 when it may be spent now)."""
        now = self.clock.monotonic()
        wait = max(0.0, self._paused_until - now)
        if self.budget is None:
            return wait
        self._expire(now)
        if self._spent and self._spent_sum + weight > self.budget:
            excess = self._spent_sum + weight - self.budget
            freed = 0
            for at, spent in self._spent:
                freed += spent
                if freed >= excess:
                    wait = max(wait, at + self.window - now)
                    break
            else:  # heavier than the whole budget: wait for an empty window
                wait = max(wait, self._spent[-1][0] + self.window - now)
        window_ms = int(self.window * 1000)
        now_ms = self.clock.now_ms()
        if now_ms // window_ms == self._venue_window and self._venue_used + weight > self.budget:
            wait = max(wait, ((self._venue_window + 1) * window_ms - now_ms) / 1000)
        return wait

    async def acquire(self, weight: int, *, urgent: bool = False) -> float:
        """Wait until ``weight`` fits, spend it and return the seconds waited.

        Ordinary callers queue FIFO. ``urgent`` ones (resyncs of live data) skip that queue and take
        the next weight that fits; the budget holds either way, since checking and spending happen
        without a suspension point in between.
        """
        if urgent:
            return await self._admit(weight)
        async with self._lock:
            return await self._admit(weight)

    async def _admit(self, weight: int) -> float:
        waited = 0.0
        while (wait := self.delay(weight)) > 0:
            if waited == 0.0:
                self.waits += 1
            waited += wait
            await self.clock.sleep(wait)
        self._record(weight)
        return waited

    def _record(self, weight: int) -> None:
        if self.budget is None:
            return
        self._spent.append((self.clock.monotonic(), weight))
        self._spent_sum += weight
        if self.clock.now_ms() // int(self.window * 1000) == self._venue_window:
            self._venue_used += weight

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] + self.window <= now:
            self._spent_sum -= self._spent.popleft()[1]

    # ---- feedback -------------------------------------------------------------------------------
    def observe_used(self, used: int | None) -> None:
        """Take the venue's count of weight used in its current window."""
        if used is None:
            return
        window = self.clock.now_ms() // int(self.window * 1000)
        if window != self._venue_window or used > self._venue_used:
            self._venue_window, self._venue_used = window, used

    def pause(self, seconds: float) -> None:
        """Stop admitting calls for ``seconds`` (extends, never shortens, a running pause)."""
        self._paused_until = max(self._paused_until, self.clock.monotonic() + max(0.0, seconds))

    def pause_for(self, error: RateLimitedError) -> float:
        """Pause as ``error`` demands and return the pause in seconds."""
        if error.retry_after is not None:
            seconds = error.retry_after
        elif error.banned:
            seconds = DEFAULT_BAN
        else:
            window_ms = int(self.window * 1000)
            seconds = max(DEFAULT_RETRY_AFTER, (window_ms - self.clock.now_ms() % window_ms) / 1000)
        self.pause(seconds)
        return seconds

    @property
    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when not paused)."""
        return max(0.0, self._paused_until - self.clock.monotonic())
