"""HTX websocket streams: gzip frames, the ping/pong heartbeat, topic dispatch and the mbp books.

Market topics go over ``/ws``; the incremental book ``market.$symbol.mbp.$levels`` over ``/feed``.
Each connection answers ``{"ping": ts}`` with ``{"pong": ts}``; when no ping arrived for
``heartbeat_timeout`` seconds the heartbeat is lost and the stream raises :class:`TransientError`.
A frame that is not valid gzip/JSON, or whose content fails to parse (one record), is logged, counted
in :attr:`StreamStats.malformed` and skipped;
the connection survives. A ``seqNum`` gap re-requests the snapshot of that one symbol.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from core.errors import BadResponseError, SequenceGapError, TransientError
from core.intervals import Interval
from core.models import Kline, OrderBook, Record
from core.websocket import close_bounded
from exchanges.huobi import parsers
from exchanges.huobi.book import MbpBook
from exchanges.huobi.codec import unpack

log = logging.getLogger(__name__)
MBP_LEVELS = (5, 20, 150, 400)
QUEUE_SIZE = 1_000


@dataclass(slots=True)
class StreamStats:
    """Counters a test or the collector can read."""

    malformed: int = 0
    resyncs: dict[str, int] = field(default_factory=dict)
    pings: int = 0


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What one :func:`run_streams` call subscribes: topics per endpoint, and how to name symbols."""

    instance: str
    ws_url: str
    feed_url: str
    topics: Sequence[str]
    mbp_topics: Sequence[str]
    unified: Mapping[str, str]
    depth: int
    heartbeat_timeout: float
    clock_ms: Callable[[], int]


def mbp_levels(depth: int) -> int:
    """The smallest ``mbp`` size that holds ``depth`` levels."""
    return next((n for n in MBP_LEVELS if n >= depth), MBP_LEVELS[-1])


class _Connection:
    """One websocket: subscriptions, heartbeat and dispatch of its messages into records."""

    def __init__(self, plan: StreamPlan, stats: StreamStats, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.plan = plan
        self.stats = stats
        self.ws = ws
        self.last_ping = time.monotonic()
        self.books: dict[str, MbpBook] = {}
        self.requested: set[str] = set()
        self.candles: dict[tuple[str, Interval], Kline] = {}
        self._ids = itertools.count(1)

    async def send(self, message: Mapping[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(message).decode())

    async def subscribe(self, topics: Sequence[str]) -> None:
        for topic in topics:
            await self.send({"sub": topic, "id": f"id{next(self._ids)}"})

    async def run(self, out: asyncio.Queue[Sequence[Record] | BaseException]) -> None:
        """Read until the socket ends; every batch of records goes to ``out``."""
        timeout = self.plan.heartbeat_timeout
        while True:
            remaining = self.last_ping + timeout - time.monotonic()
            if remaining <= 0:
                raise TransientError(f"{self.plan.instance}: heartbeat lost (no ping for {timeout:.1f} s)")
            try:
                # not asyncio.wait_for: on 3.11 it swallows a cancellation that meets a received
                # frame, and the reader then blocks forever on the full queue of a closed stream
                async with asyncio.timeout(remaining):
                    msg = await self.ws.receive()
            except TimeoutError:
                continue
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                raise TransientError(f"{self.plan.instance}: the venue closed the websocket")
            if msg.type is aiohttp.WSMsgType.ERROR:
                raise TransientError(f"{self.plan.instance}: websocket error: {self.ws.exception()}")
            try:
                message = unpack(msg.data)
            except BadResponseError as exc:
                self.stats.malformed += 1
                log.warning(
                    "%s: skipping a malformed frame (%d so far): %s",
                    self.plan.instance,
                    self.stats.malformed,
                    exc,
                )
                continue
            if not isinstance(message, dict):
                self.stats.malformed += 1
                continue
            try:
                records = await self.dispatch(message)
            except BadResponseError as exc:  # one bad record (e.g. a bbo with an empty side)
                self.stats.malformed += 1
                log.warning(
                    "%s: skipping a record the venue sent malformed (%d so far): %s",
                    self.plan.instance,
                    self.stats.malformed,
                    str(exc).splitlines()[0],
                )
                continue
            if records:
                await out.put(records)

    async def dispatch(self, message: dict[str, Any]) -> Sequence[Record]:
        """Handle one decoded message; the records it yields."""
        if "ping" in message:
            self.last_ping = time.monotonic()
            self.stats.pings += 1
            await self.send({"pong": message["ping"]})
            return ()
        if "rep" in message:
            return await self._snapshot(message)
        if message.get("status") == "error" or "subbed" in message or "unsubbed" in message:
            parsers.check(message, self.plan.instance)
            return ()
        channel = message.get("ch")
        if not isinstance(channel, str):
            return ()
        parts = channel.split(".")
        symbol = self.plan.unified.get(parts[1]) if len(parts) > 2 else None
        if symbol is None:
            return ()
        return await self._data(parts[2:], symbol, message)

    async def _data(self, kind: list[str], symbol: str, message: dict[str, Any]) -> Sequence[Record]:
        now = self.plan.clock_ms()
        instance = self.plan.instance
        head = kind[0]
        if head == "detail":
            return [parsers.ticker(message, instance=instance, symbol=symbol, receive_time=now)]
        if head == "bbo":
            return [parsers.quote(message, instance=instance, symbol=symbol, receive_time=now)]
        if head == "trade":
            found = parsers.trades(message, instance=instance, symbol=symbol, receive_time=now)
            return [*found, parsers.last_price(found)] if found else []
        if head == "kline" and len(kind) == 2 and kind[1] in parsers.INTERVALS:
            return self._kline(parsers.INTERVALS[kind[1]], symbol, message, now)
        if head == "mbp":
            return await self._increment(symbol, message)
        return ()

    def _kline(self, interval: Interval, symbol: str, message: dict[str, Any], now: int) -> list[Record]:
        tick = message.get("tick")
        if not isinstance(tick, dict):
            raise BadResponseError(f"{self.plan.instance}: kline without tick")
        current = parsers.kline(
            tick,
            instance=self.plan.instance,
            symbol=symbol,
            interval=interval,
            receive_time=now,
            event_time=message.get("ts"),
            closed=False,
        )
        out: list[Record] = []
        previous = self.candles.get((symbol, interval))
        if previous is not None and previous.open_time < current.open_time:
            out.append(previous.model_copy(update={"closed": True, "receive_time": now}))
        self.candles[(symbol, interval)] = current
        out.append(current)
        return out

    # ---- incremental book ---------------------------------------------------------------------
    async def _increment(self, symbol: str, message: dict[str, Any]) -> Sequence[Record]:
        topic = str(message["ch"])
        book = self.books.setdefault(topic, MbpBook(symbol))
        tick = message.get("tick")
        if not isinstance(tick, dict):
            raise BadResponseError(f"{self.plan.instance}: {symbol}: mbp without tick")
        try:
            changed = book.increment(tick)
        except SequenceGapError as exc:
            await self._resync(topic, book, exc)
            return ()
        if not book.synced and topic not in self.requested:
            self.requested.add(topic)
            await self.send({"req": topic, "id": f"id{next(self._ids)}"})
        return [self._book_record(book, tick.get("ts", message.get("ts")))] if changed else ()

    async def _resync(self, topic: str, book: MbpBook, exc: SequenceGapError) -> None:
        stats = self.stats.resyncs
        stats[book.symbol] = stats.get(book.symbol, 0) + 1
        log.warning("%s: %s: seqNum gap, resyncing (%s)", self.plan.instance, book.symbol, exc)
        book.reset()
        self.requested.add(topic)
        await self.send({"req": topic, "id": f"id{next(self._ids)}"})

    async def _snapshot(self, message: dict[str, Any]) -> Sequence[Record]:
        parsers.check(message, self.plan.instance)
        topic = str(message["rep"])
        book = self.books.get(topic)
        data = message.get("data")
        if book is None or not isinstance(data, dict):
            return ()
        self.requested.discard(topic)
        try:
            book.snapshot(data)
        except SequenceGapError as exc:
            await self._resync(topic, book, exc)
            return ()
        return [self._book_record(book, message.get("ts"))]

    def _book_record(self, book: MbpBook, event_time: Any) -> OrderBook:
        depth = self.plan.depth
        bids, asks = book.top(depth)
        return OrderBook(
            instance=self.plan.instance,
            symbol=book.symbol,
            event_time=event_time if isinstance(event_time, int) else None,
            receive_time=self.plan.clock_ms(),
            bids=bids,
            asks=asks,
            sequence=book.seq,
            depth=depth,
        )


async def run_streams(plan: StreamPlan, stats: StreamStats) -> AsyncIterator[Sequence[Record]]:
    """Yield record batches from ``/ws`` and ``/feed`` until a connection ends (TransientError)."""
    queue: asyncio.Queue[Sequence[Record] | BaseException] = asyncio.Queue(QUEUE_SIZE)
    async with aiohttp.ClientSession() as http:
        connections: list[_Connection] = []
        tasks: list[asyncio.Task[None]] = []
        try:
            for url, topics in ((plan.ws_url, plan.topics), (plan.feed_url, plan.mbp_topics)):
                if not topics:
                    continue
                try:
                    ws = await http.ws_connect(url, heartbeat=None, max_msg_size=1 << 24)
                except (aiohttp.ClientError, OSError) as exc:
                    raise TransientError(f"{plan.instance}: cannot connect to {url}: {exc}") from exc
                connection = _Connection(plan, stats, ws)
                connections.append(connection)
                await connection.subscribe(topics)
                tasks.append(asyncio.create_task(_pump(connection, queue), name=f"{plan.instance}-ws-reader"))
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for connection in connections:
                with contextlib.suppress(Exception):
                    await close_bounded(connection.ws)


async def _pump(connection: _Connection, out: asyncio.Queue[Sequence[Record] | BaseException]) -> None:
    try:
        await connection.run(out)
    except asyncio.CancelledError:
        raise
    except (aiohttp.ClientError, ConnectionError) as exc:
        await out.put(TransientError(f"{connection.plan.instance}: websocket failed: {exc}"))
    except Exception as exc:  # handed to the consumer, which raises it
        await out.put(exc)
