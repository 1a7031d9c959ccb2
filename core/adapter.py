"""The adapter base: what the collector drives for every exchange instance.

An adapter is async and a context manager: ``__init__`` only stores configuration, ``__aenter__``
opens connections, ``__aexit__`` closes them. Fetch methods return normalized records; ``stream``
yields batches of them from the venue's websockets until the connection ends, when it raises
:class:`~core.errors.TransientError`. Reconnecting, backoff and rate-limit *policy* belong to the
collector, not to adapters.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import ClassVar, Protocol, Self, TypeVar

from core.capabilities import Capabilities, RateLimit
from core.clock import SYSTEM_CLOCK, Clock
from core.config import InstanceConfig
from core.errors import NotSupportedError
from core.intervals import Interval
from core.models import Channel, Kline, Market, OrderBook, Price, Quote, Record, Ticker, Trade

T = TypeVar("T")


class RestGuard(Protocol):
    """Admits one REST call into the instance's rate-limit budget, runs it and counts it.

    ``urgent`` calls (resyncs of live data) go ahead of queued ordinary ones (polling, backfill).
    """

    async def __call__(
        self,
        endpoint: str,
        request: Callable[[], Awaitable[T]],
        *,
        symbol: str = "*",
        weight: int | None = None,
        urgent: bool = False,
    ) -> T: ...


class Subscription(tuple[Channel, str, Interval | None]):
    """``(channel, symbol, interval)``; ``interval`` is set only for K-lines."""

    __slots__ = ()

    def __new__(cls, channel: Channel, symbol: str, interval: Interval | None = None) -> Self:
        return super().__new__(cls, (channel, symbol, interval))

    @property
    def channel(self) -> Channel:
        return self[0]

    @property
    def symbol(self) -> str:
        return self[1]

    @property
    def interval(self) -> Interval | None:
        return self[2]


class ExchangeAdapter(abc.ABC):
    """Base class of every exchange adapter.

    Subclasses set :attr:`plugin_name` and :attr:`capabilities` and implement the abstract methods.
    Bulk methods (``fetch_tickers`` …) default to one call per symbol; override them where the venue
    has an all-symbols endpoint, which the budget planner prefers.
    """

    plugin_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    legacy: ClassVar[bool] = False

    def __init__(self, config: InstanceConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.instance = config.name
        self.clock = clock
        self._rest_guard: RestGuard | None = None

    @property
    def rest_guard(self) -> RestGuard | None:
        """Set by the collector: every REST call an adapter makes on its own (e.g. the depth snapshot
        a stream needs to resync a book) must go through :meth:`guarded_rest`, so it counts against
        the instance's budget and waits out the venue's 429/418 pauses like the collector's calls."""
        return self._rest_guard

    @rest_guard.setter
    def rest_guard(self, guard: RestGuard | None) -> None:
        self._rest_guard = guard
        self.rest_guard_changed()

    def rest_guard_changed(self) -> None:  # noqa: B027 - optional hook
        """Called when :attr:`rest_guard` is set or removed (e.g. to switch a client's own throttle)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def venue_rate_limit(self) -> RateLimit | None:
        """The REST limit the venue published with its market list, once :meth:`load_markets` ran
        (``None`` when it publishes none). The collector budgets against it in place of
        ``capabilities.rate_limit``, which is only the documented default."""
        return None

    async def guarded_rest(
        self,
        endpoint: str,
        request: Callable[[], Awaitable[T]],
        *,
        symbol: str = "*",
        weight: int | None = None,
        urgent: bool = False,
    ) -> T:
        """Run a REST call the adapter makes on its own through :attr:`rest_guard` (directly without one)."""
        if self.rest_guard is None:
            return await request()
        return await self.rest_guard(endpoint, request, symbol=symbol, weight=weight, urgent=urgent)

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Open connections; called once by ``__aenter__``."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release every connection; must be safe to call twice."""

    # ---- reference data ------------------------------------------------------------------------
    @abc.abstractmethod
    async def load_markets(self) -> list[Market]:
        """All markets the venue lists (any status), normalized."""

    # ---- snapshots over REST -------------------------------------------------------------------
    @abc.abstractmethod
    async def fetch_ticker(self, symbol: str) -> Ticker:
        """The 24-hour ticker of one symbol."""

    async def fetch_tickers(self, symbols: Sequence[str]) -> list[Ticker]:
        """24-hour tickers of many symbols."""
        return [await self.fetch_ticker(s) for s in symbols]

    @abc.abstractmethod
    async def fetch_quote(self, symbol: str) -> Quote:
        """Best bid and ask of one symbol."""

    async def fetch_quotes(self, symbols: Sequence[str]) -> list[Quote]:
        """Best bid and ask of many symbols."""
        return [await self.fetch_quote(s) for s in symbols]

    @abc.abstractmethod
    async def fetch_price(self, symbol: str) -> Price:
        """Latest traded price of one symbol."""

    async def fetch_prices(self, symbols: Sequence[str]) -> list[Price]:
        """Latest traded prices of many symbols."""
        return [await self.fetch_price(s) for s in symbols]

    @abc.abstractmethod
    async def fetch_depth(self, symbol: str, levels: int) -> OrderBook:
        """The top ``levels`` of the book."""

    @abc.abstractmethod
    async def fetch_trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        """Recent trades, oldest first."""

    @abc.abstractmethod
    async def fetch_klines(
        self, symbol: str, interval: Interval, *, start_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        """Candles opening at or after ``start_ms`` (the newest ones if ``None``), oldest first."""

    # ---- websocket streams ---------------------------------------------------------------------
    def stream(self, subscriptions: Sequence[Subscription]) -> AsyncIterator[Sequence[Record]]:
        """Yield batches of records for ``subscriptions`` until the connection ends.

        Raises :class:`~core.errors.TransientError` when the connection is lost, so the collector can
        reconnect; never returns normally while subscribed.
        """
        raise NotSupportedError(f"{self.plugin_name}: the venue has no websocket streams")

    def stream_shards(self, subscriptions: Sequence[Subscription]) -> list[list[Subscription]]:
        """Split ``subscriptions`` into shards that are streamed, supervised and reconnected apart.

        The default is one shard. An adapter whose venue limits the streams of a connection returns
        one shard per connection, keeping each symbol's subscriptions together, so a lost connection
        costs only its own symbols a reconnect and a backfill.
        """
        return [list(subscriptions)] if subscriptions else []

    def supports_stream(self, channel: Channel) -> bool:
        """True when ``channel`` can be streamed rather than polled."""
        return channel in self.capabilities.stream_channels

    def stream_counters(self) -> Mapping[str, int]:
        """What the adapter's streams counted since it was created, over all its connections: name →
        cumulative total, names from ``core.collector.metrics.COUNTERS`` (``resyncs``, ``malformed``,
        ``conflated``, ``book_refreshes``, ``depth_snapshots``, ``depth_snapshot_failures``,
        ``renewals``, ``stale``).

        Read about once a second while the instance streams, and once more when it stops; the
        collector adds each total's growth to the instance's counters. Must be cheap and do no I/O.
        The default counts nothing.
        """
        return {}
