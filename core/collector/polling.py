"""REST polling of one channel of one instance, on the cadence the budget plan gives it.

A poller of a channel the instance also streams runs only while a stream shard is down, only for the
symbols no delivering shard covers, and only after the shard has had ``stream_grace`` seconds to
come back (a reconnect usually takes milliseconds; polling for it would spend REST weight for
nothing); the grace is waited once per outage, not before every cycle. Each cycle makes the plan's
calls (one bulk call, or one per symbol / per symbol and interval, a few at a time); a cycle in
which every call failed is followed by a backoff before the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from core.adapter import ExchangeAdapter
from core.clock import Clock
from core.collector.backoff import Backoff
from core.collector.budget import ChannelPlan
from core.collector.klines import KlineSync
from core.collector.metrics import InstanceMetrics, ThrottledLog
from core.collector.rest import RestGateway
from core.collector.sink import RecordSink
from core.collector.streaming import StreamCoverage
from core.errors import NotSupportedError, QuotewireError
from core.intervals import Interval
from core.models import Channel, Record

log = logging.getLogger(__name__)

POLL_CONCURRENCY = 8
"""Per-symbol calls of one channel in flight at once."""


class ChannelPoller:
    """Poll one channel for every symbol of an instance."""

    def __init__(
        self,
        adapter: ExchangeAdapter,
        plan: ChannelPlan,
        *,
        gateway: RestGateway,
        sink: RecordSink,
        klines: KlineSync,
        metrics: InstanceMetrics,
        clock: Clock,
        backoff: Backoff,
        symbols: Sequence[str],
        intervals: Sequence[Interval],
        depth_limit: int,
        trades_limit: int = 100,
        stream: StreamCoverage | None = None,
        stream_grace: float = 2.0,
    ) -> None:
        self.adapter = adapter
        self.stream_grace = stream_grace
        self.instance = adapter.instance
        self.plan = plan
        self.channel = plan.channel
        self.gateway = gateway
        self.sink = sink
        self.klines = klines
        self.metrics = metrics
        self.clock = clock
        self.backoff = backoff
        self.symbols = list(symbols)
        self._wanted = frozenset(symbols)
        self.intervals = list(intervals)
        self.depth_limit = depth_limit
        self.trades_limit = trades_limit
        self.stream = stream
        self.cycles = 0
        self._warn = ThrottledLog(log, clock)

    async def run(self) -> None:
        """Poll forever on a drift-compensated cadence; pause while the stream covers the channel."""
        next_at = self.clock.monotonic()
        covering = False  # polling for a down stream already (its grace has passed)
        while True:
            if self.stream is not None:
                if self.stream.is_up:
                    covering = False
                    await self.stream.wait_down()
                if not covering:  # the grace once per outage, not before every cycle
                    if await self._stream_returns():
                        continue
                    covering = True
                    next_at = max(next_at, self.clock.monotonic())
            try:
                symbols = self.symbols if self.stream is None else self.stream.uncovered(self.symbols)
                ok = await self.poll_once(symbols)
            except NotSupportedError as exc:
                log.warning("%s *: %s polling stops: %s", self.instance, self.channel.value, exc)
                return
            self.cycles += 1
            cadence = self.plan.cadence  # the plan changes when the symbols do
            if ok:
                self.backoff.reset()
                next_at += cadence
            else:
                next_at = self.clock.monotonic() + max(cadence, self.backoff.next())
            now = self.clock.monotonic()
            if next_at < now - cadence:  # far behind (slow venue, long pause): skip, don't burst
                next_at = now
            await self.clock.sleep(max(0.0, next_at - now))

    def follow(self, symbols: Sequence[str], plan: ChannelPlan) -> None:
        """Poll ``symbols`` from the next cycle on, on ``plan`` (the symbol rule selected others)."""
        self.symbols = list(symbols)
        self._wanted = frozenset(symbols)
        self.plan = plan

    async def _stream_returns(self) -> bool:
        """Wait up to ``stream_grace`` for a down stream to come back; True when it did."""
        assert self.stream is not None
        deadline = self.clock.monotonic() + self.stream_grace
        while not self.stream.is_up:
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return False
            await self.clock.sleep(min(0.05, left))
        return True

    async def poll_once(self, symbols: Sequence[str] | None = None) -> bool:
        """One cycle over ``symbols`` (default: all); True when at least one call succeeded."""
        symbols = self.symbols if symbols is None else symbols
        if not symbols:
            return True
        if self.plan.bulk:
            wanted = self._wanted if symbols is self.symbols else frozenset(symbols)
            return await self._attempt("*", lambda: self._bulk(wanted))
        if self.channel is Channel.KLINE:
            calls = [
                (symbol, self._kline_call(symbol, interval))
                for symbol in symbols
                for interval in self.intervals
            ]
        else:
            calls = [(symbol, self._single_call(symbol)) for symbol in symbols]
        semaphore = asyncio.Semaphore(POLL_CONCURRENCY)
        results: list[bool] = []

        async def limited(symbol: str, call: Callable[[], Awaitable[None]]) -> None:
            async with semaphore:
                results.append(await self._attempt(symbol, call))

        async with asyncio.TaskGroup() as group:
            for symbol, call in calls:
                group.create_task(limited(symbol, call))
        return any(results)

    async def _attempt(self, symbol: str, call: Callable[[], Awaitable[None]]) -> bool:
        try:
            await call()
        except NotSupportedError:
            raise
        except QuotewireError:
            return False  # counted and logged by the gateway
        except Exception as exc:  # an adapter bug must not stop collection
            self.metrics.incr("errors")
            self._warn.error(
                f"{symbol} {self.channel}",
                "%s %s: %s poll failed: %r",
                self.instance,
                symbol,
                self.channel,
                exc,
            )
            return False
        return True

    # ---- the calls ------------------------------------------------------------------------------
    async def _bulk(self, wanted: frozenset[str]) -> None:
        """One bulk call; keep the records of ``wanted`` (the symbols no stream covers)."""
        adapter, symbols, channel = self.adapter, self.symbols, self.channel

        async def fetch() -> Sequence[Record]:
            if channel is Channel.TICKER:
                return await adapter.fetch_tickers(symbols)
            if channel is Channel.QUOTE:
                return await adapter.fetch_quotes(symbols)
            return await adapter.fetch_prices(symbols)

        records = await self.gateway.call(self.plan.endpoint, fetch, weight=self.plan.weight_per_call)
        self.sink.put([r for r in records if r.symbol in wanted])

    def _single_call(self, symbol: str) -> Callable[[], Awaitable[None]]:
        adapter, channel = self.adapter, self.channel

        async def fetch() -> Sequence[Record]:
            if channel is Channel.TICKER:
                return [await adapter.fetch_ticker(symbol)]
            if channel is Channel.QUOTE:
                return [await adapter.fetch_quote(symbol)]
            if channel is Channel.PRICE:
                return [await adapter.fetch_price(symbol)]
            if channel is Channel.DEPTH:
                return [await adapter.fetch_depth(symbol, self.depth_limit)]
            return await adapter.fetch_trades(symbol, self.trades_limit)

        async def call() -> None:
            weight = self.plan.weight_per_call
            self.sink.put(await self.gateway.call(self.plan.endpoint, fetch, symbol=symbol, weight=weight))

        return call

    def _kline_call(self, symbol: str, interval: Interval) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            await self.klines.poll((symbol, interval))

        return call
