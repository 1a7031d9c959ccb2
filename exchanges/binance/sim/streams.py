"""Binance market streams: names, per-connection output with faults, and the fan-out hub.

The hot path: the hub (an engine listener) encodes each event **once** with orjson, wraps it in a
websocket frame once per form (raw ``/ws`` and combined ``/stream`` ``{"stream":…,"data":…}``) and
appends the same bytes object to every subscriber's buffer. Buffers are written with one
``transport.write`` per connection per engine batch (:meth:`Hub.on_batch`).
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.intervals import Interval
from core.sim import Candle, DepthDiff, MarketEngine, MarketListener, MarketState, Trade
from exchanges.binance.sim import codec
from exchanges.binance.sim.faults import Faults

MAX_STREAMS = 1024
STREAM_RE = re.compile(
    r"^(?P<sym>[a-z0-9]+)@(?P<kind>trade|aggTrade|bookTicker|miniTicker|ticker"
    r"|kline_(?P<iv>1m|5m|15m|30m|1h|1d|1w|1M)|depth(?P<levels>5|10|20)?(?:@(?P<speed>100ms|1000ms))?)$"
)
ALL_MINI = "!miniTicker@arr"
PHASES = 40
"""Periodic streams (24hr tickers every second, klines every two) are spread over this many phases
of their period, each stream in a fixed one, so they do not all leave in one burst (with 1,000
markets' 8,000 kline streams, a phase is ~200 frames every 50 ms)."""
FLUSH_EVERY_FRAMES = 256
"""Queued frames after which the hub writes them out within a batch: a batch's periodic streams
(a depth round of every market, a phase of klines) take the venue several ms to encode, and its
first frames leave without waiting for the last."""
HIGH_WATER = 8 * 1024 * 1024
"""Firehose mode pauses the market while a connection has more than this unsent."""
TOO_SLOW = 4 * HIGH_WATER
"""A connection with more than this unsent is a slow consumer and is dropped."""
KINDS = ("trades", "quote", "depth", "ticker", "kline")
"""Stream kinds the send lag is kept for, named as the collector's channels."""
MAX_SEND_LAG_MS = 60_000
"""The largest send lag :attr:`Hub.send_lag` tells apart; a later frame is counted at this value."""


def frame(payload: bytes) -> bytes:
    """An unmasked, final websocket text frame carrying ``payload``."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


def phase_of(name: str) -> int:
    """The fixed phase of a periodic stream (deterministic across runs, unlike ``hash``)."""
    return zlib.crc32(name.encode()) % PHASES


def garble(data: bytes) -> bytes:
    """The text frame ``data`` with its JSON payload cut in half (still valid UTF-8, no longer JSON)."""
    size = data[1] & 0x7F
    header = 2 if size < 126 else 4 if size == 126 else 10
    payload = data[header:]
    return frame(payload[: len(payload) // 2].decode("utf-8", "ignore").encode())


@dataclass(frozen=True, slots=True)
class Stream:
    """A parsed stream name."""

    name: str
    kind: str  # trade, aggTrade, bookTicker, miniTicker, ticker, kline, depth, partial, miniArr
    symbol: str = ""  # BTCUSDT
    interval: Interval | None = None
    levels: int = 0
    speed_ms: int = 1000


def parse_stream(name: str) -> Stream | None:
    """Parse a Binance stream name; ``None`` when it is not one the venue serves."""
    if name == ALL_MINI:
        return Stream(name, "miniArr")
    match = STREAM_RE.match(name)
    if match is None:
        return None
    symbol = match["sym"].upper()
    kind = match["kind"]
    if kind.startswith("kline_"):
        return Stream(name, "kline", symbol, Interval.parse(match["iv"]))
    if kind.startswith("depth"):
        speed = 100 if match["speed"] == "100ms" else 1000
        if match["levels"]:
            return Stream(name, "partial", symbol, levels=int(match["levels"]), speed_ms=speed)
        return Stream(name, "depth", symbol, speed_ms=speed)
    return Stream(name, kind, symbol)


class Connection:
    """The output side of one websocket: buffered frames, fault counters, close requests."""

    def __init__(self, transport: asyncio.Transport, combined: bool, faults: Faults) -> None:
        self.transport = transport
        self.combined = combined
        self.faults = faults
        self.streams: dict[str, Stream] = {}
        self.buffer: list[bytes] = []
        self.delayed: deque[tuple[int, bytes]] = deque()
        self.sent = 0  # data frames counted for faults
        self.diffs = 0  # depth diff events counted for gap faults
        self.held: bytes | None = None
        self.stalled = False
        self.close_reason: str | None = None
        self.close_requested = asyncio.Event()
        self.last_pong = 0.0

    def request_close(self, reason: str) -> None:
        """Ask the connection's handler to close it (``abort`` for a dropped socket)."""
        if self.close_reason is None:
            self.close_reason = reason
            self.close_requested.set()

    def put(self, data: bytes, now_ms: int, diff: bool = False) -> None:
        """Queue one data frame, applying the active faults."""
        faults = self.faults
        if faults.quiet:
            self.buffer.append(data)
            return
        if self.stalled or self.close_reason is not None:
            return
        if diff and faults.gap_every:
            self.diffs += 1
            if self.diffs % faults.gap_every == 0:
                return
        self.sent += 1
        count = self.sent
        if faults.disconnect_after and count > faults.disconnect_after:
            self.request_close("abort")
            return
        if faults.stall_after and count > faults.stall_after:
            self.stalled = True
            return
        if faults.drop_every and count % faults.drop_every == 0:
            return
        if faults.malformed_frame_every and count % faults.malformed_frame_every == 0:
            data = garble(data)
        out = [data]
        if faults.duplicate_every and count % faults.duplicate_every == 0:
            out.append(data)
        if faults.reorder_every:
            if self.held is not None:
                out.append(self.held)
                self.held = None
            elif count % faults.reorder_every == 0:
                self.held = data
                out = []
        if faults.latency_ms:
            due = now_ms + faults.latency_ms
            self.delayed.extend((due, item) for item in out)
        else:
            self.buffer.extend(out)
        if faults.disconnect_after and count == faults.disconnect_after:
            self.flush(now_ms)
            self.request_close("abort")

    def flush(self, now_ms: int) -> None:
        """Write everything due in one system call."""
        delayed = self.delayed
        while delayed and delayed[0][0] <= now_ms:
            self.buffer.append(delayed.popleft()[1])
        if not self.buffer or self.transport.is_closing():
            self.buffer.clear()
            return
        self.transport.write(b"".join(self.buffer))
        self.buffer.clear()

    def backlog(self) -> int:
        """Bytes the kernel has not taken yet."""
        return 0 if self.transport.is_closing() else self.transport.get_write_buffer_size()


@dataclass(slots=True)
class _Pending:
    first_id: int
    last_id: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)


class Hub(MarketListener):
    """Subscriptions and fan-out for every connection of one venue."""

    def __init__(self, engine: MarketEngine, *, kline_ms: int = 2000, ticker_ms: int = 1000) -> None:
        self.engine = engine
        self.kline_ms = kline_ms
        self.ticker_ms = ticker_ms
        self.subs: dict[str, set[Connection]] = {}
        self.connections: set[Connection] = set()
        self._dirty: set[Connection] = set()
        self._markets = list(engine.markets.values())
        self._lower = [m.spec.symbol.lower() for m in self._markets]
        self._depth_names = [(n + "@depth", n + "@depth@100ms", n + "@depth@1000ms") for n in self._lower]
        self._quiet: bool | None = None  # no connection has a frame fault: computed once per batch
        self._depth: dict[tuple[str, int], _Pending] = {}  # (stream name, market index)
        self._partial_sent: dict[str, int] = {}
        self._partials: dict[str, Stream] = {}  # subscribed partial-depth streams, by name
        self._kline_sent: dict[str, tuple[int, int]] = {}
        self._ticker_dirty: set[int] = set()
        self._mini_dirty: set[int] = set()
        self._next_100 = 0
        self._next_1000 = 0
        self._next_phase = {"ticker": 0, "kline": 0}  # when the next phase of each periodic kind is due
        self._phase = {"ticker": 0, "kline": 0}
        self._kline_phases: list[set[str]] = [set() for _ in range(PHASES)]  # kline streams by phase
        self.frames_out = 0
        self.send_lag: Counter[int] = Counter()
        """Frames written, by how many ms after their event time (capped at :data:`MAX_SEND_LAG_MS`)."""
        self.send_lag_by_kind: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS}
        """:attr:`send_lag` by stream kind (frames delayed by a fault are counted when queued)."""
        self._unsent: Counter[str] = Counter()  # frames queued since the last flush, by kind
        self._queued = 0  # frames queued since the last flush
        self.gaps: set[str] = set()
        """Symbols (``BTCUSDT``) whose next depth diff event is never sent: a one-off sequence gap."""

    # ---- subscriptions --------------------------------------------------------------------------
    def add(self, conn: Connection) -> None:
        """Register a connection."""
        self.connections.add(conn)

    def discard(self, conn: Connection) -> None:
        """Forget a connection and all its subscriptions."""
        self.unsubscribe(conn, list(conn.streams))
        self.connections.discard(conn)
        self._dirty.discard(conn)

    def subscribe(self, conn: Connection, streams: Iterable[Stream]) -> None:
        """Add streams to a connection."""
        for stream in streams:
            conn.streams[stream.name] = stream
            self.subs.setdefault(stream.name, set()).add(conn)
            if stream.kind == "kline":
                self._kline_phases[phase_of(stream.name)].add(stream.name)
            elif stream.kind == "partial":
                self._partials[stream.name] = stream

    def unsubscribe(self, conn: Connection, names: Iterable[str]) -> None:
        """Remove streams from a connection."""
        for name in names:
            conn.streams.pop(name, None)
            subscribers = self.subs.get(name)
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self.subs[name]
                    self._kline_phases[phase_of(name)].discard(name)
                    self._partials.pop(name, None)
                    self._partial_sent.pop(name, None)
                    for key in [k for k in self._depth if k[0] == name]:
                        del self._depth[key]

    # ---- fan-out --------------------------------------------------------------------------------
    def _send(
        self,
        name: str,
        subscribers: set[Connection],
        payload: bytes,
        now: int,
        kind: str,
        *,
        diff: bool = False,
    ) -> None:
        """Queue ``payload`` of stream ``name`` (a ``kind`` of :data:`KINDS`) to its subscribers."""
        raw: bytes | None = None
        combined: bytes | None = None
        quiet = self._quiet
        if quiet is None:
            quiet = self._quiet = all(c.faults.quiet for c in self.connections)
        dirty = self._dirty
        for conn in subscribers:
            if conn.combined:
                if combined is None:
                    combined = frame(b'{"stream":"' + name.encode() + b'","data":' + payload + b"}")
                data = combined
            else:
                if raw is None:
                    raw = frame(payload)
                data = raw
            if quiet:
                conn.buffer.append(data)
            else:
                conn.put(data, now, diff)
            dirty.add(conn)
        self.frames_out += len(subscribers)
        self._unsent[kind] += len(subscribers)
        self._queued += len(subscribers)
        if self._queued >= FLUSH_EVERY_FRAMES:
            self.flush(now)

    def broadcast(self, payload_of: Callable[[Connection], bytes | None], now: int) -> None:
        """Send a per-connection payload (already framed) to every connection, e.g. serverShutdown."""
        for conn in self.connections:
            data = payload_of(conn)
            if data is not None:
                conn.buffer.append(data)
                self._dirty.add(conn)
        self.flush(now)

    # ---- engine events --------------------------------------------------------------------------
    def on_trades(self, market: MarketState, trades: Sequence[Trade]) -> None:
        lower = self._lower[market.index]
        subs = self.subs
        now = trades[0].time_ms
        trade_subs = subs.get(lower + "@trade")
        if trade_subs:
            for trade in trades:
                payload = orjson.dumps(codec.ws_trade(market.spec.symbol, trade, now))
                self._send(lower + "@trade", trade_subs, payload, now, "trades")
        agg_subs = subs.get(lower + "@aggTrade")
        if agg_subs:
            for trade in trades:
                payload = orjson.dumps(codec.ws_agg_trade(market.spec.symbol, trade, now))
                self._send(lower + "@aggTrade", agg_subs, payload, now, "trades")

    def on_depth(self, market: MarketState, diff: DepthDiff) -> None:
        subs = self.subs
        for name in self._depth_names[market.index]:
            if name not in subs:
                continue
            key = (name, market.index)
            pending = self._depth.get(key)
            if pending is None:
                pending = self._depth[key] = _Pending(diff.first_id, diff.last_id)
            pending.last_id = diff.last_id
            pending.bids.update(diff.bids)
            pending.asks.update(diff.asks)

    def on_best(self, market: MarketState, time_ms: int) -> None:
        name = self._lower[market.index] + "@bookTicker"
        subscribers = self.subs.get(name)
        if subscribers:
            self._send(name, subscribers, orjson.dumps(codec.ws_book_ticker(market)), time_ms, "quote")

    def on_candles(self, market: MarketState, closed: Sequence[Candle], time_ms: int) -> None:
        lower = self._lower[market.index]
        for candle in closed:
            name = f"{lower}@kline_{candle.interval.value}"
            subscribers = self.subs.get(name)
            if subscribers:
                payload = orjson.dumps(codec.ws_kline(market.spec.symbol, candle, True, time_ms))
                self._send(name, subscribers, payload, time_ms, "kline")

    def on_ticker(self, market: MarketState, time_ms: int) -> None:
        self._ticker_dirty.add(market.index)
        self._mini_dirty.add(market.index)

    def on_batch(self, time_ms: int) -> None:
        # the step's own events (trades, book tickers) leave first: the periodic streams below can
        # take several ms (a phase of 800 klines), and the events would wait for them
        self.flush(time_ms)
        if time_ms >= self._next_100:
            self._next_100 = time_ms - time_ms % 100 + 100
            self._emit_depth(100, time_ms)
        if time_ms >= self._next_1000:
            self._next_1000 = time_ms - time_ms % 1000 + 1000
            self._emit_depth(1000, time_ms)
        for phase in self._due_phases("ticker", time_ms, self.ticker_ms):
            self._emit_tickers(time_ms, phase)
        for phase in self._due_phases("kline", time_ms, self.kline_ms):
            self._emit_klines(time_ms, phase)
        self.flush(time_ms)
        self._quiet = None  # faults may change before the next batch

    def flush(self, now: int) -> None:
        """Write every connection's buffer (and due delayed frames).

        ``now`` is the event time the frames carry; how long after it they reach the socket is
        counted in :attr:`send_lag` (the venue's own share of a consumer's event-to-receive time).
        """
        lag = min(max(0, self.engine.clock.now_ms() - now), MAX_SEND_LAG_MS)
        send_lag = self.send_lag
        for kind, frames in self._unsent.items():
            if frames:
                self.send_lag_by_kind[kind][lag] += frames
        self._unsent.clear()
        self._queued = 0
        for conn in self._dirty:
            frames = len(conn.buffer)
            conn.flush(now)
            if frames:
                send_lag[lag] += frames
            if conn.backlog() > TOO_SLOW:
                conn.request_close("abort")
        self._dirty = {c for c in self.connections if c.delayed}

    # ---- periodic streams -----------------------------------------------------------------------
    def _emit_depth(self, speed: int, now: int) -> None:
        for key in [k for k, p in self._depth.items() if (k[0].endswith("@100ms")) == (speed == 100)]:
            name, index = key
            pending = self._depth.pop(key)
            subscribers = self.subs.get(name)
            if not subscribers:
                continue
            market = self._market_at(index)
            if self.gaps and market.spec.symbol in self.gaps:
                self.gaps.discard(market.spec.symbol)
                continue
            payload = orjson.dumps(
                codec.ws_depth_update(
                    market.spec.symbol,
                    pending.first_id,
                    pending.last_id,
                    sorted(pending.bids.items(), reverse=True),
                    sorted(pending.asks.items()),
                    now,
                )
            )
            self._send(name, subscribers, payload, now, "depth", diff=True)
        # only the partial-depth streams: a scan of every subscription here took ~30% of the
        # venue's CPU with 13k streams subscribed
        for name, stream in list(self._partials.items()):
            subscribers = self.subs.get(name)
            if not subscribers or stream.speed_ms != speed:
                continue
            found = self.engine.markets.get(stream.symbol)
            if found is None or self._partial_sent.get(name) == found.update_id:
                continue
            self._partial_sent[name] = found.update_id
            payload = orjson.dumps(codec.depth(found.book.snapshot(found.update_id, stream.levels)))
            self._send(name, subscribers, payload, now, "depth")

    def _due_phases(self, kind: str, now: int, period: int) -> list[int]:
        """The phases of a periodic kind due at ``now`` (each phase comes once per ``period``; after
        a pause, at most one whole round at once)."""
        due: list[int] = []
        step = max(1, period // PHASES)
        next_at = self._next_phase[kind] or now  # the first phase starts with the first batch
        while now >= next_at and len(due) < PHASES:
            due.append(self._phase[kind])
            self._phase[kind] = (self._phase[kind] + 1) % PHASES
            next_at += step
        if now >= next_at:  # still behind after a whole round (a pause): start again from now
            next_at = now + step
        self._next_phase[kind] = next_at
        return due

    def _emit_tickers(self, now: int, phase: int) -> None:
        """The 24hr tickers of the markets of ``phase`` that changed; ``!miniTicker@arr`` at phase 0."""
        engine = self.engine
        markets = self._markets
        dirty = {i for i in self._ticker_dirty if i % PHASES == phase}
        self._ticker_dirty -= dirty
        mini_dirty: set[int] = set()
        if phase == 0:
            mini_dirty, self._mini_dirty = self._mini_dirty, set()
        for index in sorted(dirty):
            market = markets[index]
            lower = self._lower[index]
            full, mini = self.subs.get(lower + "@ticker"), self.subs.get(lower + "@miniTicker")
            if not full and not mini:
                continue
            stats = engine.stats(market, now)
            if full:
                payload = orjson.dumps(codec.ws_ticker(market, stats, now))
                self._send(lower + "@ticker", full, payload, now, "ticker")
            if mini:
                payload = orjson.dumps(codec.ws_mini_ticker(market, stats, now))
                self._send(lower + "@miniTicker", mini, payload, now, "ticker")
        every = self.subs.get(ALL_MINI)
        if every and mini_dirty:
            rows = [
                codec.ws_mini_ticker(markets[i], engine.stats(markets[i], now), now)
                for i in sorted(mini_dirty)
            ]
            self._send(ALL_MINI, every, orjson.dumps(rows), now, "ticker")

    def _emit_klines(self, now: int, phase: int) -> None:
        """The open candle of every kline stream of ``phase`` whose candle changed."""
        for name in sorted(self._kline_phases[phase]):
            subscribers = self.subs.get(name)
            if not subscribers:
                continue
            stream = next(iter(subscribers)).streams.get(name)
            if stream is None or stream.interval is None:
                continue
            market = self.engine.markets.get(stream.symbol)
            if market is None:
                continue
            candle = self.engine.candle(market, stream.interval, now)
            state = (candle.open_time, candle.trades)
            if self._kline_sent.get(name) == state:
                continue
            self._kline_sent[name] = state
            payload = orjson.dumps(codec.ws_kline(market.spec.symbol, candle, False, now))
            self._send(name, subscribers, payload, now, "kline")

    def _market_at(self, index: int) -> MarketState:
        return self._markets[index]

    def shutdown_payload(self, now: int) -> Callable[[Connection], bytes | None]:
        """The ``serverShutdown`` frame in each connection's form."""
        data = orjson.dumps(codec.ws_server_shutdown(now))
        raw = frame(data)
        combined = frame(b'{"stream":"!serverShutdown","data":' + data + b"}")

        def payload_of(conn: Connection) -> bytes | None:
            return combined if conn.combined else raw

        return payload_of


def encode(obj: Any) -> bytes:
    """orjson, the one JSON encoder of the venue."""
    return orjson.dumps(obj)
