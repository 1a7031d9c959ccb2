"""Every REST call of one instance passes here: budget, timeout, counters, 429/418 pauses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.adapter import ExchangeAdapter
from core.collector.budget import EndpointWeights
from core.collector.limiter import RateLimiter, ReportsUsedWeight, read_used_weight
from core.collector.metrics import InstanceMetrics, ThrottledLog
from core.errors import RateLimitedError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

REQUEST_TIMEOUT = 10.0
"""Seconds one REST call may take before it counts as a transient failure."""


class RestGateway:
    """Admit, time out, count and translate the REST calls of one adapter."""

    def __init__(
        self,
        adapter: ExchangeAdapter,
        limiter: RateLimiter,
        metrics: InstanceMetrics,
        *,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.adapter = adapter
        self.instance = adapter.instance
        self.limiter = limiter
        self.weights = EndpointWeights(adapter.capabilities.endpoint_weights)
        self.metrics = metrics
        self.timeout = timeout
        self._warn = ThrottledLog(log, limiter.clock)
        self._feedback = isinstance(adapter, ReportsUsedWeight)

    async def call(
        self,
        endpoint: str,
        request: Callable[[], Awaitable[T]],
        *,
        symbol: str = "*",
        weight: int | None = None,
        urgent: bool = False,
        time_limit: float | None = None,
    ) -> T:
        """Run ``request`` (one call of ``endpoint``, costing ``weight`` or the declared weight) in budget.

        ``urgent`` calls are admitted ahead of queued ordinary ones (see :meth:`RateLimiter.acquire`).
        ``time_limit`` replaces the gateway's timeout for this call (a market list can be megabytes).

        Raises :class:`TransientError` on failure or timeout; a :class:`RateLimitedError` also pauses
        every REST call of the instance for as long as the venue asked.
        """
        if weight is None:
            weight = self.weights[endpoint]
        if await self.limiter.acquire(weight, urgent=urgent) > 0:
            self.metrics.incr("rate_limit_waits")
        self.metrics.incr("rest_calls")
        self.metrics.incr("rest_weight", weight)
        limit = self.timeout if time_limit is None else time_limit
        try:
            async with asyncio.timeout(limit):
                return await request()
        except RateLimitedError as exc:
            pause = self.limiter.pause_for(exc)
            self.metrics.incr("errors")
            kind = "banned (418)" if exc.banned else "rate-limited (429)"
            log.warning("%s %s: %s %s; pausing REST for %.1fs", self.instance, symbol, endpoint, kind, pause)
            raise
        except TimeoutError:
            self.metrics.incr("errors")
            raise TransientError(f"{endpoint} timed out after {limit:g}s") from None
        except Exception as exc:
            self.metrics.incr("errors")
            self._warn.warning(
                f"{symbol} {endpoint}", "%s %s: %s failed: %r", self.instance, symbol, endpoint, exc
            )
            raise
        finally:
            if self._feedback:
                self.limiter.observe_used(read_used_weight(self.adapter))
