"""Supervising an instance's websocket streams: reconnect with backoff, stall watchdog, backfill on return.

An instance's subscriptions are split into *shards* (``adapter.stream_shards``: one per connection
on Binance), and each shard has its own supervisor and :class:`StreamState`, so a lost connection
costs only its own symbols a reconnect and a backfill; :class:`StreamCoverage` tells the pollers
which symbols no stream covers right now. A *session* consumes ``adapter.stream(subscriptions)``
until it fails. The stream counts as up from its first batch; while it is down, the REST pollers of
the streamed channels take over for its symbols. A session that delivered data for a while and then
ended (``serverShutdown``, the 24-hour disconnect) is reconnected at once (as is a first short one);
consecutive failures back off exponentially with jitter. When no batch arrives for
``stall_timeout`` seconds the session is abandoned and reconnected.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Sequence

from core.adapter import ExchangeAdapter, Subscription
from core.clock import Clock
from core.collector.backoff import Backoff
from core.collector.metrics import InstanceMetrics, ThrottledLog
from core.collector.sink import RecordSink
from core.errors import NotSupportedError, TransientError
from core.models import Record

log = logging.getLogger(__name__)


HEALTHY_SESSION = 2.0
"""Seconds a session must have delivered for its end to count as the venue's doing (reconnect at once)."""


class StallError(TransientError):
    """No frame arrived within the stall timeout."""


class StreamState:
    """Whether one stream (shard) currently delivers; pollers of streamed channels wait on it."""

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._on_change = on_change

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    def set_up(self) -> None:
        self._down.clear()
        self._up.set()
        self._on_change()

    def set_down(self) -> None:
        self._up.clear()
        self._down.set()
        self._on_change()

    async def wait_down(self) -> None:
        """Return when the stream is (or goes) down."""
        await self._down.wait()

    async def wait_up(self) -> None:
        """Return when the stream is (or comes) up."""
        await self._up.wait()


class StreamCoverage:
    """The shards of an instance's stream and the symbols each covers: what REST must poll now."""

    def __init__(self) -> None:
        self.shards: list[tuple[StreamState, frozenset[str]]] = []
        self._changed = asyncio.Event()

    def add(self, symbols: Collection[str]) -> StreamState:
        """A new shard covering ``symbols`` (down until its supervisor brings it up)."""
        state = StreamState(on_change=self._notify)
        self.shards.append((state, frozenset(symbols)))
        self._notify()
        return state

    @property
    def is_up(self) -> bool:
        """True when there are shards and every one of them delivers."""
        return bool(self.shards) and all(state.is_up for state, _ in self.shards)

    def symbols(self) -> set[str]:
        """Every symbol some shard streams, delivering or not."""
        return set().union(*(shard for _, shard in self.shards))

    def uncovered(self, symbols: Sequence[str]) -> list[str]:
        """Those of ``symbols`` (in order) that no delivering shard covers."""
        covered: set[str] = set()
        for state, shard in self.shards:
            if state.is_up:
                covered |= shard
        return [s for s in symbols if s not in covered]

    async def wait_down(self) -> None:
        """Return when a shard is (or goes) down."""
        while self.is_up:
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class StreamSupervisor:
    """Keep one stream (shard) of an instance connected for as long as the collector runs.

    ``name`` labels its logs and tasks (the instance, plus the shard when there are several).
    """

    def __init__(
        self,
        adapter: ExchangeAdapter,
        subscriptions: Sequence[Subscription],
        *,
        sink: RecordSink,
        state: StreamState,
        metrics: InstanceMetrics,
        clock: Clock,
        backoff: Backoff,
        stall_timeout: float,
        on_down: Callable[[], None] = lambda: None,
        on_up: Callable[[bool], None] = lambda reconnect: None,
        name: str | None = None,
    ) -> None:
        self.adapter = adapter
        self.instance = adapter.instance
        self.name = name or adapter.instance
        self.subscriptions = list(subscriptions)
        self.sink = sink
        self.state = state
        self.metrics = metrics
        self.clock = clock
        self.backoff = backoff
        self.stall_timeout = stall_timeout
        self.on_down = on_down
        self.on_up = on_up
        self.sessions = 0
        self._delivered = False
        self._ever_up = False
        self.delays: deque[float] = deque(maxlen=100)  # the latest reconnect delays, for inspection
        self._last_frame = 0.0
        self._warn = ThrottledLog(log, clock)

    async def run(self) -> None:
        """Connect, consume, reconnect — until cancelled, or for good when the venue cannot stream."""
        while True:
            self.sessions += 1
            started = self.clock.monotonic()
            try:
                delivered = await self._session()
                error: Exception = TransientError("stream ended")
            except NotSupportedError as exc:
                log.warning("%s *: streaming unavailable (%s); polling over REST instead", self.name, exc)
                self.state.set_down()
                return
            except Exception as exc:  # every failure of a session leads to a reconnect
                delivered, error = self._delivered, exc
            was_up = self.state.is_up
            self.state.set_down()
            if was_up:
                self.on_down()
            self.metrics.incr("reconnects")
            healthy = delivered and self.clock.monotonic() - started >= HEALTHY_SESSION
            if healthy:
                self.backoff.reset()  # serverShutdown, the 24-hour cut: back at once
                delay = 0.0
            elif delivered and self.backoff.failures == 0:
                self.backoff.failures = 1  # a first short session: at once too, but the next one waits
                delay = 0.0
            else:
                delay = self.backoff.next()
            self.delays.append(delay)
            self._warn.warning(
                "reconnect",
                "%s *: stream lost (%s: %s); reconnecting in %.2fs",
                self.name,
                type(error).__name__,
                error,
                delay,
            )
            if delay > 0:
                await self.clock.sleep(delay)

    async def _session(self) -> bool:
        """One connection; returns (or raises) when it ends. True when it delivered data.

        Not a task group: on Python 3.11 a task group cancelled from outside while a child fails
        (a connection reset on the way out) raises the child's error and drops the cancellation,
        and the supervisor would reconnect a collector that was told to stop, forever.
        """
        self._delivered = False
        self._last_frame = self.clock.monotonic()
        consumer = asyncio.create_task(self._consume(), name=f"stream:{self.name}")
        watchdog = asyncio.create_task(self._watchdog(consumer), name=f"stream-watchdog:{self.name}")
        try:
            done, _ = await asyncio.wait((consumer, watchdog), return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when cancelled: stop both, and let what they raise on the way out go
            consumer.cancel()
            watchdog.cancel()
            await asyncio.gather(consumer, watchdog, return_exceptions=True)
        for task in (consumer, watchdog):  # the consumer's error first when both ended
            if task in done and not task.cancelled() and (error := task.exception()) is not None:
                raise error
        return self._delivered

    async def _consume(self) -> None:
        stream: AsyncIterator[Sequence[Record]] = self.adapter.stream(self.subscriptions)
        try:
            async for batch in stream:
                self._last_frame = self.clock.monotonic()
                self.metrics.incr("messages")
                if not self._delivered:
                    self._delivered = True
                    reconnect, self._ever_up = self._ever_up, True
                    self.state.set_up()
                    log.info("%s *: stream up (%d subscriptions)", self.name, len(self.subscriptions))
                    self.on_up(reconnect)
                if batch:
                    self.sink.put(batch, live=True)
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                await closer()
        raise TransientError("the stream ended")

    async def _watchdog(self, consumer: asyncio.Task[None]) -> None:
        check = max(self.stall_timeout / 4, 0.01)
        while not consumer.done():
            await self.clock.sleep(check)
            silent = self.clock.monotonic() - self._last_frame
            if silent >= self.stall_timeout:
                raise StallError(f"no frames for {silent:.1f}s")
