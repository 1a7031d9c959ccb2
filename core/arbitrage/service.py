"""Arbitrage as a process of its own, fed by the store: ``quotewire arbitrage``.

An instance whose ``options.arbitrage.runs_in`` is ``service`` has no observer in the collector. Its
engine runs here instead, off the collector's event loop (at 1,000 symbols the engine is about a
quarter of the collector's in-process CPU per frame), and on another core when there is one.

The service subscribes to the instance's events (the records of every store flush, see
:mod:`core.store.writer`), then reads the instance's markets and the latest book, quote and ticker
of each from Redis, so nothing published meanwhile is missed. From then on each flush's books,
quotes and tickers feed the engine, and its changes go to Redis through a store writer of its
own, as the collector's would: the ranked set, the documents and the ``arbitrage`` events.

Pub/sub does not replay what a subscriber missed. When Redis goes away the service subscribes again
(with backoff) and reads the latest state again; when it falls more than :data:`MAX_BACKLOG`
flushes behind, it drops them and reads the latest state instead (the engine needs each market's
last state, not its history). Markets are read again every :data:`MARKETS_CHECK_S`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from core.arbitrage.observer import ArbitrageObserver
from core.arbitrage.redis_sink import RedisOpportunitySink
from core.arbitrage.settings import ArbitrageSettings, settings_for
from core.clock import SYSTEM_CLOCK, Clock
from core.collector.metrics import ThrottledLog
from core.config import AppConfig
from core.decimals import exact
from core.errors import StorageError
from core.models import Channel, Market, OrderBook, Quote, Record, Ticker
from core.records import trusted
from core.store import StoreReader, StoreWriter
from core.store.codec import decode
from core.store.keys import KeySchema

log = logging.getLogger(__name__)

ENGINE_CHANNELS: Mapping[str, type[Quote] | type[OrderBook] | type[Ticker]] = {
    Channel.DEPTH.value: OrderBook,
    Channel.TICKER.value: Ticker,
    Channel.QUOTE.value: Quote,
}
"""The records an engine takes, by ``channel`` tag (in the order the latest state is read)."""

MAX_BACKLOG = 500
"""Flushes received but not yet applied (≈ 5 s at the collector's 10 ms) beyond which they are dropped
and the latest state is read instead."""

MARKETS_CHECK_S = 30.0
"""How often the instances' markets are read again (the engine is rebuilt when they changed)."""

MARKETS_WAIT_S = 1.0
"""How often they are read while an instance has none yet."""

RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0
"""Backoff between attempts to subscribe again after Redis went away."""


def service_settings(config: AppConfig) -> dict[str, ArbitrageSettings]:
    """The arbitrage settings of each enabled instance whose engine runs as a service."""
    found: dict[str, ArbitrageSettings] = {}
    for instance in config.enabled:
        settings = settings_for(instance.plugin, taker_fee=instance.taker_fee, options=instance.options)
        if settings.enabled and settings.runs_in == "service":
            found[instance.name] = settings
    return found


class _Inbox:
    """Flushes received and not yet applied: at most ``limit``, else they are dropped as overflow."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[tuple[str, list[Any]]] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.error: BaseException | None = None

    def put(self, item: tuple[str, list[Any]]) -> None:
        if len(self._items) >= self.limit:
            self._items.clear()
            self.overflowed = True
        self._items.append(item)
        self._ready.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._ready.set()

    async def wait(self, seconds: float) -> None:
        """Until something was put (or the subscription failed), at most ``seconds``."""
        # a timer that sets the event, not asyncio.timeout(): on Python 3.11 a timeout expiring as
        # the task is cancelled can turn that cancellation into a TimeoutError, which would be lost
        timer = asyncio.get_running_loop().call_later(seconds, self._ready.set)
        try:
            await self._ready.wait()
        finally:
            timer.cancel()

    def take(self) -> list[tuple[str, list[Any]]]:
        """Everything received so far (raises the subscription's error once it is all taken)."""
        items = list(self._items)
        self._items.clear()
        self._ready.clear()
        if not items and self.error is not None:
            raise self.error
        return items


class ArbitrageService:
    """The engines of ``settings``' instances, fed from the store at ``redis_url`` until cancelled."""

    def __init__(
        self,
        redis_url: str,
        settings: Mapping[str, ArbitrageSettings],
        *,
        keys: KeySchema | None = None,
        clock: Clock = SYSTEM_CLOCK,
        flush_interval: float = 0.01,
        max_backlog: int = MAX_BACKLOG,
        markets_check: float = MARKETS_CHECK_S,
    ) -> None:
        self.redis_url = redis_url
        self.keys = keys or KeySchema()
        self.clock = clock
        self.max_backlog = max_backlog
        self.markets_check = markets_check
        self.writer = StoreWriter(redis_url, keys=self.keys, flush_interval=flush_interval, clock=clock)
        sink = RedisOpportunitySink(self.writer, clock)
        self.observers = {
            name: ArbitrageObserver(name, instance_settings, sink=sink, clock=clock)
            for name, instance_settings in settings.items()
        }
        self._markets: dict[str, list[Market]] = {}
        self.resyncs = 0
        """Times the latest state was read again (after a lost subscription or a backlog)."""
        self.malformed = 0
        """Records of the engine's channels that did not parse (skipped)."""
        self.failures = 0
        """Flushes the engine raised on (logged and skipped)."""
        self._warn = ThrottledLog(log, clock)

    async def run(self) -> None:
        """Serve until cancelled, subscribing again whenever Redis goes away."""
        if not self.observers:
            raise ValueError("no instance to run")
        delay = RETRY_MIN_S
        async with self.writer:
            while True:
                _raise_if_cancelled()
                try:
                    await self._serve()
                except StorageError as exc:
                    log.warning(
                        "arbitrage: Redis is unavailable (%s); subscribing again in %.1fs", exc, delay
                    )
                    await self.clock.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
                else:
                    delay = RETRY_MIN_S

    async def _serve(self) -> None:
        """One subscription: subscribe, read the latest state, then apply every flush until Redis
        goes away (raise)."""
        inbox = _Inbox(self.max_backlog)
        subscribed = asyncio.Event()
        async with StoreReader(self.redis_url, keys=self.keys) as reader:
            pump = asyncio.create_task(self._pump(reader, inbox, subscribed), name="arbitrage-events")
            try:
                await _until_set(subscribed, pump)
                await self._resync(reader)
                next_markets_check = self.clock.monotonic() + self._markets_period()
                while True:
                    _raise_if_cancelled()
                    await inbox.wait(max(0.0, next_markets_check - self.clock.monotonic()))
                    items = inbox.take()
                    if inbox.overflowed:
                        inbox.overflowed = False
                        log.warning(
                            "arbitrage: more than %d flushes behind; dropped them and read the latest state",
                            self.max_backlog,
                        )
                        await self._resync(reader)
                        continue
                    for instance, records in items:
                        self._apply(instance, records)
                    if self.clock.monotonic() >= next_markets_check:
                        await self._check_markets(reader)
                        next_markets_check = self.clock.monotonic() + self._markets_period()
            finally:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)

    async def _pump(self, reader: StoreReader, inbox: _Inbox, subscribed: asyncio.Event) -> None:
        try:
            async for item in reader.events(list(self.observers), on_subscribed=subscribed.set):
                inbox.put(item)
        except StorageError as exc:
            inbox.fail(exc)
            raise

    def _apply(self, instance: str, documents: list[Any]) -> None:
        observer = self.observers.get(instance)
        if observer is None:
            return
        records: list[Record] = []
        for document in documents:  # (the observer keeps each market's latest state of the flush)
            if type(document) is not dict or document.get("channel") not in ENGINE_CHANNELS:
                continue
            try:
                records.append(record_of(document))
            except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                self.malformed += 1
                self._warn.warning(
                    f"{instance} malformed",
                    "arbitrage: %s: skipped a record that does not parse: %r",
                    instance,
                    exc,
                )
        if records:
            try:
                observer.on_records(records)
            except Exception as exc:  # one bad batch must not end the service
                self.failures += 1
                self._warn.warning(
                    f"{instance} engine", "arbitrage: %s: the engine failed on a flush: %r", instance, exc
                )

    async def _resync(self, reader: StoreReader) -> None:
        """Read every instance's markets and its latest books, quotes and tickers into the engines."""
        self.resyncs += 1
        for instance, observer in self.observers.items():
            await self._load_markets(reader, instance, force=True)
            symbols = [m.symbol for m in self._markets.get(instance, [])]
            if not symbols:
                log.info("arbitrage: %s has no markets in Redis yet; waiting for its collector", instance)
                continue
            records: list[Record] = []
            for channel, model in ENGINE_CHANNELS.items():
                for document in await reader.latest_many(instance, symbols, Channel(channel)):
                    if document is not None:
                        try:
                            records.append(decode(document, model))
                        except ValidationError as exc:
                            self.malformed += 1
                            log.warning("arbitrage: %s: skipped a stored record: %s", instance, exc)
            observer.on_records(records)
            log.info(
                "arbitrage: %s: %d markets, %d cycles, %d latest records read",
                instance,
                len(symbols),
                len(observer.engine.cycles),
                len(records),
            )

    def _markets_period(self) -> float:
        """Seconds to the next markets check: sooner while an instance has none yet (a service
        started beside its collector)."""
        waiting = any(not self._markets.get(name) for name in self.observers)
        return min(self.markets_check, MARKETS_WAIT_S) if waiting else self.markets_check

    async def _check_markets(self, reader: StoreReader) -> None:
        for instance in self.observers:
            if await self._load_markets(reader, instance, force=False):
                await self._resync(reader)
                return

    async def _load_markets(self, reader: StoreReader, instance: str, *, force: bool) -> bool:
        """Read ``instance``'s markets; rebuild its engine when forced or when they changed."""
        markets = await reader.markets(instance)
        if not force and _listing(markets) == _listing(self._markets.get(instance, [])):
            return False
        self._markets[instance] = markets
        self.observers[instance].on_markets(markets)
        return True


def record_of(document: dict[str, Any]) -> Record:
    """The record of a stored or published book, quote or ticker (JSON the store wrote).

    Built without pydantic's validation (≈ 44 µs a 20-level book) from what the engine reads; every
    number is still checked (:func:`~core.decimals.exact`: finite, bounded) and a missing or
    mistyped field raises ``KeyError``, ``TypeError`` or ``ValueError``.
    """
    channel = document["channel"]
    common = {
        "instance": str(document["instance"]),
        "symbol": str(document["symbol"]),
        "event_time": _optional_int(document.get("event_time")),
        "receive_time": int(document["receive_time"]),
    }
    if channel == "quote":
        return trusted(
            Quote,
            **common,
            bid=exact(document["bid"]),
            bid_size=exact(document["bid_size"]),
            ask=exact(document["ask"]),
            ask_size=exact(document["ask_size"]),
            sequence=_optional_int(document.get("sequence")),
        )
    if channel == "depth":
        return trusted(
            OrderBook,
            **common,
            bids=_levels(document["bids"]),
            asks=_levels(document["asks"]),
            sequence=_optional_int(document.get("sequence")),
            depth=int(document["depth"]),
        )
    if channel == "ticker":
        numbers = {k: None if document.get(k) is None else exact(document[k]) for k in _TICKER_NUMBERS}
        return trusted(Ticker, **common, last=exact(document["last"]), **numbers)
    raise ValueError(f"not a book, quote or ticker: {channel!r}")


_TICKER_NUMBERS = (
    "open", "high", "low", "volume", "quote_volume", "change", "change_percent",
    "bid", "bid_size", "ask", "ask_size",
)  # fmt: skip


def _levels(rows: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    """``[[price, amount], …]`` text as decimal levels: one C-level pass to convert (:func:`exact`
    per number would cost 3x, ~80 a book), then one to refuse what is not a finite number."""
    levels = [(Decimal(price), Decimal(amount)) for price, amount in rows]
    if not all(price.is_finite() and amount.is_finite() for price, amount in levels):
        raise ValueError("a book level is not a finite number")
    return levels


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _raise_if_cancelled() -> None:
    """Raise CancelledError when this task was asked to stop. A cancellation that arrives during a
    Redis command can be lost (redis-py 8.2's asyncio client on Python 3.11: 3 stops in 20 in a test
    reading markets every 50 ms); the request stays counted on the task, so the loop notices it here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _until_set(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait for ``event``; raise ``task``'s error if it ends first."""
    waiter = asyncio.create_task(event.wait())
    try:
        await asyncio.wait((waiter, task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not event.is_set():
        task.result()
        raise StorageError("the event subscription ended")


def _listing(markets: Sequence[Market]) -> list[dict[str, Any]]:
    """What the engine builds from ``markets`` (not when the collector read them)."""
    return [m.model_dump(exclude={"receive_time"}) for m in markets]
