"""Binance market streams: raw websocket frames parsed straight into records.

Why raw frames and not ccxt.pro ``watch_*``: ccxt.pro parses every frame into its own unified
structure (with ``float``-free strings only when ``number = str``), keeps per-symbol caches and
resolves one future per ``watch_*`` call, so a consumer has to await each symbol/channel separately;
it also hides ``E``/``U``/``u`` and the kline ``x`` flag behind its own structures. Parsing the frame
with orjson and building our record directly is faster even though it does more: on this 2-core box
(``bench/parse_binance.py``, 20k frames, best of 3) the raw path, pydantic record included, handled
bookTicker 98k frames/s vs ccxt.pro 44k, aggTrade (→ Trade + Price) 55k vs 43k, kline 63k vs 66k —
and ccxt's figures exclude turning its structures into our records (another ~4 µs per record).
Decoding and dispatch cost ~1.5 µs of our ~8-10 µs per frame; pydantic validation of the record is
most of the rest. The raw path also keeps Binance's exact text, ``E``, ``U``/``u`` and the kline
``x`` flag, and lets one task serve every subscription of a connection.

One :class:`StreamSession` serves a batch of subscriptions: streams are sharded over connections of
at most :data:`MAX_STREAMS_PER_CONNECTION`, symbols dealt out in turn (:func:`shard_streams`); the
first streams ride in the ``/stream?streams=`` URL and the rest are sent as ``SUBSCRIBE`` messages
at fewer than 5 messages a second. Depth is kept in a :class:`~exchanges.binance.book.LocalBook` per
symbol; a sequence gap resyncs that one symbol from a
new REST snapshot while the connection stays up. A book whose served levels near its snapshot's
depth is refreshed from a new snapshot while it is served, and that symbol's later snapshots are one
size deeper (``snapshot_limits``). A connection that fell behind skips the quotes and
24h tickers that later frames already read replace (:data:`CONFLATE_BACKLOG`). A frame that
cannot be parsed is logged (with its symbol), counted and skipped. A connection is replaced by a
new one before it ends, on ``serverShutdown`` or ahead of the 24-hour cut, with both read for a
moment (:meth:`StreamSession._serve`); a quote, price or kline update older than one already read is
skipped. A connection lost without notice raises :class:`~core.errors.TransientError`.

Frames are read with aiohttp's websocket client (``ClientSession.ws_connect``, one client session per
connection), not the ``websockets`` library: its C frame reader is far cheaper per frame. Against the
simulated venue over loopback (``bench/ws_read.py``, firehose, 150 streams) a bare read loop cost
~3.0 µs of CPU per frame with ``websockets`` and ~0.6 µs with aiohttp, and this module's read loop
(receive-time stamp and periodic yield included) went from 3.3 to ~0.8 µs — at ~23k frames/s that is
~6% of a core back. Binance's server pings are answered by aiohttp (``autoping``); the client sends
no pings of its own and sets no message size limit and no compression.

The part every frame passes through (frame to records, the local books) is
:class:`~exchanges.binance.frames.FrameReader`, which the session subclasses: that module is
compiled with mypyc, this one (an async generator) cannot be.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from core.adapter import Subscription
from core.clock import Clock
from core.errors import (
    BadResponseError,
    QuotewireError,
    RateLimitedError,
    SequenceGapError,
    TransientError,
    VenueShutdownError,
)
from core.models import Channel, Record
from core.websocket import close_bounded
from exchanges.binance.frames import FrameReader, StreamStats, conflate
from exchanges.binance.levels import DEFAULT_MAX_LEVELS
from exchanges.binance.parsers import BinanceParser, DepthSnapshot

log = logging.getLogger(__name__)

MAX_STREAMS_PER_CONNECTION = 1024
URL_STREAMS = 100
"""Streams named in the connection URL; the rest of a shard is subscribed by message."""
STREAMS_PER_MESSAGE = 200
MESSAGE_INTERVAL_S = 0.25
"""Pause between control messages: Binance allows 5 incoming messages per second."""
MAX_BATCH = 128
"""Records handed to the consumer at once; the session yields to the event loop between slices."""
YIELD_EVERY = 8
"""Frames read before the connection task yields to the event loop.

With 13 connections, one turn of the event loop was up to 13 x 16 frames plus a 256-record slice
(~7 ms), and the store's flush waited that long to resume and start the next one. At 8 frames and
128 records, ``bench.collect`` (1,000 symbols, paced) measured receive→Redis p99 44-49 ms instead of
70-74 ms, at the same CPU. Bigger slices (128 frames, 1,024 records) were much worse."""
SNAPSHOT_CONCURRENCY = 8
"""Depth snapshots in flight at once per session: at start-up every book wants one, and a thousand
requests at once would sit in the HTTP pool past their timeout (and hammer the venue)."""
SNAPSHOT_RETRY_MIN = 0.5
"""Seconds before a failed depth snapshot is tried again (doubling up to SNAPSHOT_RETRY_MAX)."""
SNAPSHOT_RETRY_MAX = 30.0
OPEN_TIMEOUT_S = 10.0
RENEW_AFTER_S = 23.5 * 3600
"""Age at which a connection is replaced by a new one: Binance closes every connection at 24 hours."""
HANDOVER_S = 1.0
"""Seconds a new connection and the one it replaces are both read, once the new one is subscribed."""
RENEW_RETRY_MIN_S = 0.5
"""Pause before a failed replacement connection is tried again (doubling up to RENEW_RETRY_MAX_S)."""
RENEW_RETRY_MAX_S = 30.0
CONFLATE_BACKLOG = 256
"""Frames waiting in a connection's read queue from which the reader conflates (0: never).

Then it takes every waiting frame at once and skips each ``bookTicker`` and ``24hrTicker`` frame that
a later frame of the same stream in that batch replaces (each carries the stream's whole state);
trades, depth diffs and klines are all kept. A reader that fell behind so catches up instead of
staying behind with the CPU it has. On the recorded ``bench.collect`` mix, 23% of the frames of a
256-frame batch per connection are replaced quotes and tickers, 31% of a 1,024-frame batch (aiohttp
queues up to 128 KB, ~600 frames, before it stops reading the socket)."""
CONFLATE_LOG_EVERY_S = 60.0
MAX_TAKEN = 4096
"""Most frames taken from a connection in one batch."""

SnapshotFetcher = Callable[[str, int, bool], Awaitable[DepthSnapshot]]
"""Fetches the REST depth snapshot of a unified symbol, at most that many levels a side; the flag is
``urgent``: the book is not served until it arrives (a refresh of a served book is not urgent)."""


@dataclass(frozen=True)
class Plan:
    """Which stream names serve which channels of which symbols."""

    streams: list[str]
    wanted: Mapping[str, frozenset[Channel]]
    """Unified symbol → channels to emit (a ``trade`` stream serves TRADES and PRICE)."""


def plan_streams(subscriptions: Sequence[Subscription], native: Mapping[str, str]) -> Plan:
    """Stream names for ``subscriptions``; ``native`` maps unified symbols to Binance ids."""
    names: dict[str, None] = {}
    wanted: dict[str, set[Channel]] = defaultdict(set)
    for sub in subscriptions:
        s = native[sub.symbol].lower()
        wanted[sub.symbol].add(sub.channel)
        if sub.channel is Channel.TICKER:
            names[f"{s}@ticker"] = None
        elif sub.channel is Channel.QUOTE:
            names[f"{s}@bookTicker"] = None
        elif sub.channel in (Channel.TRADES, Channel.PRICE):
            names[f"{s}@trade"] = None
        elif sub.channel is Channel.DEPTH:
            names[f"{s}@depth@100ms"] = None
        elif sub.channel is Channel.KLINE:
            if sub.interval is None:
                raise ValueError(f"binance: {sub.symbol}: a kline subscription needs an interval")
            names[f"{s}@kline_{sub.interval.value}"] = None
    return Plan(list(names), {k: frozenset(v) for k, v in wanted.items()})


def shard_streams(streams: Sequence[str], capacity: int) -> list[list[str]]:
    """Spread ``streams`` over as few connections of at most ``capacity`` streams as fit, symbol by
    symbol in turn, so busy and quiet symbols mix on every connection.

    A symbol's streams stay together. Filling connections in list order put the first 256 symbols'
    trade, bookTicker and depth streams on one connection (half of all frames in ``bench.collect``)
    and that connection's reader fell behind while the others idled.
    """
    groups: dict[str, list[str]] = {}
    for name in streams:
        groups.setdefault(name.split("@", 1)[0], []).append(name)
    pieces = [group[i : i + capacity] for group in groups.values() for i in range(0, len(group), capacity)]
    shards: list[list[str]] = [[] for _ in range(-(-len(streams) // capacity))]
    for n, piece in enumerate(pieces):
        shard = shards[n % len(shards)]
        if len(shard) + len(piece) > capacity:
            shard = min(shards, key=len)
            if len(shard) + len(piece) > capacity:
                shard = []
                shards.append(shard)
        shard += piece
    return shards


def shard_subscriptions(
    subscriptions: Sequence[Subscription], native: Mapping[str, str], capacity: int
) -> list[list[Subscription]]:
    """``subscriptions`` split the way :func:`shard_streams` splits their streams: one list per
    connection, each symbol's subscriptions together."""
    by_symbol: dict[str, list[Subscription]] = {}
    for sub in subscriptions:
        by_symbol.setdefault(native[sub.symbol].lower(), []).append(sub)
    shards = shard_streams(plan_streams(subscriptions, native).streams, capacity)
    symbols_of = (dict.fromkeys(name.split("@", 1)[0] for name in shard) for shard in shards)
    return [[sub for symbol in symbols for sub in by_symbol[symbol]] for symbols in symbols_of]


class SnapshotGate:
    """Depth snapshots in flight at once, and the pause a 429/418 on one imposes, shared by every
    stream session of an adapter (one per shard): at start-up every book of every shard wants one."""

    def __init__(self, concurrency: int = SNAPSHOT_CONCURRENCY) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.paused_until = 0.0
        """Monotonic time before which no snapshot is requested."""


class StreamSession(FrameReader):
    """The websocket connections serving one ``stream()`` call."""

    def __init__(
        self,
        *,
        base_url: str,
        parser: BinanceParser,
        fetch_snapshot: SnapshotFetcher,
        depth_levels: int,
        clock: Clock,
        stats: StreamStats,
        max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION,
        snapshot_gate: SnapshotGate | None = None,
        conflate_backlog: int = CONFLATE_BACKLOG,
        book_max_levels: int = DEFAULT_MAX_LEVELS,
        snapshot_limits: Sequence[int] = (100,),
        learned_limits: dict[str, int] | None = None,
        renew_after: float = RENEW_AFTER_S,
    ) -> None:
        super().__init__(
            parser=parser,
            depth_levels=depth_levels,
            clock=clock,
            stats=stats,
            book_max_levels=book_max_levels,
            snapshot_limits=snapshot_limits,
            learned_limits=learned_limits,
        )
        self.base_url = base_url.rstrip("/")
        self.fetch_snapshot = fetch_snapshot
        self.max_streams = max_streams_per_connection
        self.conflate_backlog = conflate_backlog
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._snapshot_gate = snapshot_gate or SnapshotGate()
        self.renew_after = renew_after
        """Seconds after which a connection is replaced (see :meth:`_serve`)."""

    async def run(self, plan: Plan) -> AsyncIterator[list[Record]]:
        """Yield batches of records until a connection fails (then raise)."""
        self._wanted = plan.wanted
        shards = shard_streams(plan.streams, self.max_streams)
        tasks = [
            asyncio.create_task(self._connection(shard), name=f"binance-ws-{n}")
            for n, shard in enumerate(shards)
        ]
        try:
            outbox = self.outbox
            while True:
                await outbox.wait()
                records = outbox.take()
                for start in range(0, len(records), MAX_BATCH):
                    if start:
                        await asyncio.sleep(0)  # let the store's flush and the readers run between slices
                    yield records[start : start + MAX_BATCH] if len(records) > MAX_BATCH else records
                if outbox.error is not None:
                    raise outbox.error
        finally:
            pending = tasks + list(self._snapshot_tasks.values())
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # ---- one connection ------------------------------------------------------------------------
    async def _connection(self, streams: list[str]) -> None:
        try:
            await self._serve(streams)
        except asyncio.CancelledError:
            raise
        except QuotewireError as exc:
            self.outbox.fail(exc)
        except Exception as exc:  # any failure of one connection ends the stream, typed
            self.outbox.fail(TransientError(f"binance: websocket failed: {type(exc).__name__}: {exc}"))

    async def _serve(self, streams: list[str]) -> None:
        """Serve ``streams`` over one connection at a time, until one ends unannounced (then raise).

        A connection is replaced before it ends: when the venue announces ``serverShutdown`` on it
        (Binance: ten minutes ahead) or when it reaches :attr:`renew_after` (Binance cuts every
        connection at 24 hours). The new one is opened and subscribed while the old one is still
        read; both are read for :data:`HANDOVER_S` more, then the old one is closed. Records of
        both pass the same books (depth diffs already applied are dropped by their update ids, and
        one ahead of a book waits for the other connection's: :attr:`handovers`) and
        the same staleness checks, and the sink drops repeated trades: no gap, no reconnect, no
        backfill. The old connection closing meanwhile (as announced) is expected.
        """
        link = await self._open(streams)
        try:
            while True:
                await self._until_renewal(link)
                self.handovers += 1
                try:
                    successor = await self._successor(link, streams)
                    await link.close()
                finally:
                    self.handovers -= 1
                link = successor
                self.stats.renewals += 1
                log.info(
                    "%s: a connection of %d streams was replaced by a new one",
                    self.parser.instance,
                    len(streams),
                )
        finally:
            await link.close()

    async def _open(self, streams: list[str]) -> _Link:
        """Connect, start reading, and start subscribing the streams beyond the URL's."""
        head, tail = streams[:URL_STREAMS], streams[URL_STREAMS:]
        url = f"{self.base_url}/stream?streams={'/'.join(head)}"
        # no session-wide timeout: the open is bounded below, and the stream itself must not expire
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                ws = await http.ws_connect(url, autoping=True, heartbeat=None, compress=0, max_msg_size=0)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await http.close()
            raise TransientError(
                f"binance: cannot open {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:
            await http.close()
            raise
        link = _Link(http, ws, self.clock.monotonic())
        link.reader = asyncio.create_task(self._read(ws, link.announced), name="binance-ws-read")
        link.subscriber = asyncio.create_task(self._subscribe(ws, tail), name="binance-ws-subscribe")
        return link

    async def _until_renewal(self, link: _Link) -> None:
        """Return when ``link`` is to be replaced; raise its error when it ends first."""
        due = link.opened_at + self.renew_after - self.clock.monotonic()
        timer = asyncio.create_task(self.clock.sleep(max(0.0, due)), name="binance-ws-renewal")
        announced = asyncio.create_task(link.announced.wait(), name="binance-ws-announced")
        try:
            await asyncio.wait((link.reader, timer, announced), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            announced.cancel()
        if link.announced.is_set():
            log.info("%s: the venue announced serverShutdown; replacing the connection", self.parser.instance)
        elif link.reader.done():
            link.reader.result()  # the connection's error
            raise TransientError("binance: the websocket ended")
        else:
            log.info("%s: a connection reached %.0f s; replacing it", self.parser.instance, self.renew_after)

    async def _successor(self, link: _Link, streams: list[str]) -> _Link:
        """A new connection for ``streams``, subscribed and read :data:`HANDOVER_S`, to replace ``link``.

        One that cannot be opened or fails meanwhile is tried again after a growing pause, as long
        as ``link`` still delivers; when ``link`` ends first, its error is raised (the stream is lost,
        and the supervisor reconnects).
        """
        delay = RENEW_RETRY_MIN_S
        while True:
            try:
                successor = await self._open(streams)
            except TransientError as exc:
                error = exc
            else:
                try:
                    await self._handover(successor)
                except TransientError as exc:
                    error = exc
                    await successor.close()
                except BaseException:
                    await successor.close()
                    raise
                else:
                    return successor
            log.warning(
                "%s: the connection replacing one of %d streams failed (%s); trying again in %.1fs "
                "while the old one delivers",
                self.parser.instance,
                len(streams),
                error,
                delay,
            )
            await _while_reading(link, asyncio.create_task(self.clock.sleep(delay)))
            delay = min(delay * 2, RENEW_RETRY_MAX_S)

    async def _handover(self, successor: _Link) -> None:
        """Wait until ``successor`` is subscribed and has been read :data:`HANDOVER_S` (raise if it fails)."""
        await _while_reading(successor, successor.subscriber)
        await _while_reading(successor, asyncio.create_task(self.clock.sleep(HANDOVER_S)))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, announced: asyncio.Event) -> None:
        """Hand every data frame to :meth:`_on_frame` until the connection ends (then raise); set
        ``announced`` when the venue announces that it will close it.

        While :data:`CONFLATE_BACKLOG` frames or more wait, the waiting frames are taken at once and
        the replaced quotes and tickers among them skipped (:func:`conflate`).
        """
        receive, on_frame, now_ms = ws.receive, self._on_frame, self.clock.now_ms
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        backlog, waiting = self.conflate_backlog, _waiting_of(ws)
        until_yield = YIELD_EVERY
        while True:
            # a bare receive(): no per-frame timeout (and no asyncio.wait_for, which on 3.11 can
            # swallow a cancellation that meets a received frame); pings are answered inside it
            kind, data, extra = await receive()
            if kind is not text and kind is not binary:
                _raise_for(ws, kind, data, extra)
                continue  # PING/PONG only reach here with autoping off; nothing else is a message
            batch: _Batch | None = None
            frames: Sequence[str | bytes] = (data,)
            if backlog and waiting is not None and waiting() >= backlog:
                batch = await _take_waiting(ws, data, waiting)
                frames = conflate(batch.frames, self.stats)
                self._log_conflation(len(batch.frames))
            for frame in frames:
                try:
                    on_frame(frame, now_ms())
                except VenueShutdownError:
                    announced.set()  # read on: the connection delivers until its successor does
                until_yield -= 1
                if not until_yield:
                    until_yield = YIELD_EVERY
                    # buffered frames are handed out without yielding: let the consumer and
                    # the store's flush run, so a burst cannot hold records back for long
                    await asyncio.sleep(0)
            if batch is not None and batch.last is not None:
                _raise_for(ws, *batch.last)

    def _log_conflation(self, taken: int) -> None:
        now, logged = self.clock.monotonic(), self.stats.conflation_logged
        if logged is None or now - logged >= CONFLATE_LOG_EVERY_S:
            self.stats.conflation_logged = now
            log.warning(
                "%s: a connection fell behind (%d frames waiting): replaced quotes and tickers are "
                "skipped until it catches up (%d so far)",
                self.parser.instance,
                taken,
                self.stats.conflated,
            )

    async def _subscribe(self, ws: aiohttp.ClientWebSocketResponse, streams: list[str]) -> None:
        for n, i in enumerate(range(0, len(streams), STREAMS_PER_MESSAGE)):
            await self.clock.sleep(MESSAGE_INTERVAL_S)
            params = streams[i : i + STREAMS_PER_MESSAGE]
            await ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": params, "id": n + 1}).decode())

    def _ensure_snapshot(self, symbol: str) -> None:
        task = self._snapshot_tasks.get(symbol)
        if task is None or task.done():
            self._snapshot_tasks[symbol] = asyncio.create_task(
                self._load_snapshot(symbol), name=f"binance-snapshot-{symbol}"
            )

    async def _load_snapshot(self, symbol: str) -> None:
        """Fetch REST snapshots for ``symbol`` until its book is in sync; never ends the session.

        As Binance documents: when the snapshot is older than the buffered diffs, or the diffs do
        not bridge it, get a new snapshot. A transient failure or a bad body retries this symbol alone
        with capped backoff; a 429/418 pauses every snapshot of the adapter until the venue's
        ``Retry-After`` has passed, so resyncs never keep hammering a venue that asked us to stop.
        """
        delay = SNAPSHOT_RETRY_MIN
        book = self._books[symbol]
        gate = self._snapshot_gate
        while True:
            wait = gate.paused_until - self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
            limit = self._snapshot_limit_of(symbol)
            try:
                async with gate.slots:
                    snapshot = await self.fetch_snapshot(symbol, limit, not book.synced)
            except asyncio.CancelledError:
                raise
            except (TransientError, BadResponseError) as exc:
                self.stats.snapshot_failures[symbol] += 1
                if isinstance(exc, RateLimitedError):
                    wait = exc.retry_after if exc.retry_after is not None else SNAPSHOT_RETRY_MAX
                    gate.paused_until = max(gate.paused_until, self.clock.monotonic() + wait)
                else:
                    wait, delay = delay, min(delay * 2, SNAPSHOT_RETRY_MAX)
                log.warning(
                    "%s: %s: depth snapshot failed (%s); retrying this symbol in %.1fs",
                    self.parser.instance,
                    symbol,
                    exc,
                    wait,
                )
                await self.clock.sleep(wait)
                continue
            except Exception as exc:  # not a venue failure: handed to the consumer, which raises it
                self.outbox.fail(exc)
                return
            self.stats.snapshots[symbol] += 1
            try:
                book.on_snapshot(snapshot, limit)
            except SequenceGapError as exc:
                # not a venue failure: the stream moved on while the snapshot was fetched
                self.stats.resyncs[symbol] += 1
                log.warning("%s: %s (around the snapshot); fetching another", self.parser.instance, exc)
                await self.clock.sleep(SNAPSHOT_RETRY_MIN)
                continue
            self.outbox.add(self._book_record(book, self.clock.now_ms()))
            return


class _Link:
    """One websocket connection of a shard: its client session, and the tasks reading it and
    subscribing its streams."""

    def __init__(
        self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, opened_at: float
    ) -> None:
        self.http = http
        self.ws = ws
        self.opened_at = opened_at
        """Monotonic time of the connection's opening."""
        self.announced = asyncio.Event()
        """Set when the venue announced it will close this connection."""
        self.reader: asyncio.Task[None]
        self.subscriber: asyncio.Task[None]

    async def close(self) -> None:
        """Stop reading and subscribing, then close the websocket and its client session."""
        for task in (self.subscriber, self.reader):
            task.cancel()
        await asyncio.gather(self.subscriber, self.reader, return_exceptions=True)
        try:
            await close_bounded(self.ws)
        finally:
            await self.http.close()


async def _while_reading(link: _Link, waiting: asyncio.Task[None]) -> None:
    """Wait for ``waiting`` while ``link`` is read; raise the connection's error if it ends first."""
    try:
        await asyncio.wait((link.reader, waiting), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not waiting.done():
            waiting.cancel()
    if waiting.done() and not waiting.cancelled():
        waiting.result()  # a failed subscription
        return
    link.reader.result()
    raise TransientError("binance: the websocket ended")


@dataclass(frozen=True, slots=True)
class _Batch:
    """Frames taken from a connection at once, and the message that ended the batch, if any."""

    frames: list[str | bytes]
    last: tuple[aiohttp.WSMsgType, Any, Any] | None


async def _take_waiting(
    ws: aiohttp.ClientWebSocketResponse, first: str | bytes, waiting: Callable[[], int]
) -> _Batch:
    """``first`` and every data frame ``waiting`` counts behind it (returned without suspending), up
    to a message that is not data, which ends the batch."""
    frames: list[str | bytes] = [first]
    text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
    while waiting() and len(frames) < MAX_TAKEN:
        kind, data, extra = await ws.receive()
        if kind is not text and kind is not binary:
            return _Batch(frames, (kind, data, extra))
        frames.append(data)
    return _Batch(frames, None)


def _waiting_of(ws: aiohttp.ClientWebSocketResponse) -> Callable[[], int] | None:
    """A count of the messages waiting in ``ws``'s read queue, or ``None`` where aiohttp does not
    show it (its queue is internal: then the reader never conflates)."""
    buffer = getattr(getattr(ws, "_reader", None), "_buffer", None)
    return buffer.__len__ if buffer is not None and hasattr(buffer, "__len__") else None


def _raise_for(ws: aiohttp.ClientWebSocketResponse, kind: aiohttp.WSMsgType, data: Any, extra: Any) -> None:
    """Raise the :class:`TransientError` that a non-data message means (PING/PONG: nothing)."""
    if kind is aiohttp.WSMsgType.ERROR:
        raise TransientError(f"binance: websocket closed: {type(data).__name__}: {data}")
    if kind is aiohttp.WSMsgType.CLOSED:
        raise TransientError("binance: websocket closed: connection lost without a close frame")
    if kind is aiohttp.WSMsgType.CLOSE or kind is aiohttp.WSMsgType.CLOSING:
        reason = f", {extra}" if extra else ""
        raise TransientError(f"binance: websocket closed by the venue (code {ws.close_code}{reason})")
