"""The batching writer: conflate, pipeline, survive Redis outages.

The collector calls :meth:`StoreWriter.put` for every normalized record; it returns at once. A flush
writes what accumulated every ``flush_interval`` seconds (or, when the last one took longer, as soon
as its reply is in):

* latest-value records (ticker, quote, price, depth) are *conflated*: only the newest value of a key
  per flush is written, all of them in one ``MSET``;
* K-lines are conflated per (key, open time) and upserted by one Lua call; trades are appended to
  capped streams by another; freshness is one ``HSET`` per instance;
* every record (not conflated) is published, one ``PUBLISH`` per instance per flush, as a JSON array;
* ranked items (arbitrage opportunities) are conflated per id: one ``ZADD`` of their scores, one
  expiring ``SET`` each, ``ZREM`` + ``DEL`` for closed ones, and one ``channel: "arbitrage"`` event
  per id in the instance's ``PUBLISH``.

The transaction goes out on a connection of the writer's own (:class:`~core.store.link.RedisLink`:
:mod:`core.store.resp` packs the commands in C, hiredis reads the replies); the event loop goes on
while Redis answers, and the next flush starts after this one's reply. When Redis is unreachable the
batch is kept (newer values win), buffers are bounded (oldest trades and events dropped and counted),
and writing resumes when Redis returns. If Redis lost its data meanwhile (a restart), the latest state
and the markets are rewritten and ``on_reset`` callbacks run so the collector can backfill K-lines.

Each flush's transaction first sets a sentinel key to the flush's number. When a flush was sent but
its answer never came (a timeout, a lost connection), it may or may not have run: its batch is held,
the next connection reads the sentinel, and the batch goes out again (under the newer records) only
if it did not, so its trades, events, counters and opportunity events are neither lost nor doubled.
(Past candles it carried are written again either way: a candle replaces itself.) What Redis
refuses when the transaction runs (a key of another type) or what cannot be sent at all (a counter
step beyond 64 bits) would fail every retry: those writes alone are dropped, logged by command and
key, and counted; the rest lands.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, Self

import orjson
from pydantic import BaseModel
from redis.exceptions import ResponseError

from core.clock import SYSTEM_CLOCK, Clock
from core.errors import StorageError
from core.intervals import Interval
from core.models import Channel, Kline, Market, Record, Trade
from core.store.codec import encode
from core.store.keys import LATEST_CHANNELS, KeySchema
from core.store.link import RedisLink
from core.store.redis_errors import storage_error, translate_redis_errors
from core.store.resp import Arg, Command, pack_commands
from core.store.scripts import APPEND_TRADES, UPSERT_KLINES
from core.symbols import to_key

log = logging.getLogger(__name__)

DEFAULT_KLINE_RETENTION: Mapping[Interval, int] = {
    Interval.M1: 10_000,
    Interval.M5: 5_000,
    Interval.M15: 5_000,
    Interval.M30: 5_000,
    Interval.H1: 5_000,
    Interval.D1: 2_000,
    Interval.W1: 1_000,
    Interval.MO1: 500,
}


CONNECT_TIMEOUT_S = 2.0
"""How long the writer waits for a connection to Redis before the flush fails (and is retried)."""
REPLY_TIMEOUT_S = 5.0
"""How long a flush waits for Redis's replies before it fails and the connection is dropped."""
SLOW_FLUSH_S = 0.1
"""A flush longer than this is counted and logged (at most every 10 s): its records waited for it."""

STORE_COUNTER_DOCS: Mapping[str, str] = {
    "dropped": "records dropped: the oldest trades and events beyond the buffer bound while Redis could "
    "not be written, and the writes of a flush that could not be built",
    "refused": "writes Redis refused when the transaction ran, or that could not be sent (logged each)",
    "failed_flushes": "flushes that failed (Redis unreachable, no answer, the transaction refused as a "
    "whole); their writes were kept and retried",
    "unanswered_flushes": "of those, flushes sent whose answer never came; whether they ran was read "
    "from Redis before their trades, events and counters were sent again",
    "slow_flushes": "flushes that took longer than 100 ms",
    "resets": "times Redis was found to have lost its data; the latest state was written again",
}
"""The store writers' own counters, added to ``qw:v1:store-stats`` with the next flush (what went
wrong while Redis was unreachable is written once it is back)."""

ARBITRAGE_CHANNEL = "arbitrage"
"""The ``channel`` of the events that carry opportunity changes."""


class RankedItem(NamedTuple):
    """One item of a ranked set: its id, its score (higher ranks first) and its JSON document."""

    id: str
    score: float
    document: BaseModel


_SlotKey = tuple[str, str, Any, Interval | None]  # instance, symbol, channel, interval
_LATEST, _KLINE, _TRADE = "latest", "kline", "trade"
_Ranked = tuple[float, BaseModel | None, int]  # score, document (None: closed), change time (ms)


@dataclass
class WriterStats:
    """Counters of one writer (read by the collector's metrics)."""

    records: int = 0
    flushes: int = 0
    commands: int = 0
    failures: int = 0
    dropped: int = 0
    resets: int = 0
    connected: bool = False
    last_error: str | None = None
    last_flush_ms: int | None = None
    last_flush_seconds: float = 0.0
    """How long the last successful flush took, from taking the batch to Redis's reply."""
    slow_flushes: int = 0
    """Flushes that took longer than :data:`SLOW_FLUSH_S`."""
    refused: int = 0
    """Commands (or keys of a batch script) Redis refused when run, or that could not be packed:
    their writes are dropped, as sending them again would fail the same way (each is logged)."""
    unanswered: int = 0
    """Flushes sent whose answer never came (a timeout, a lost connection): whether they ran is
    read from Redis before the next flush, so their trades and events are neither lost nor doubled."""


@dataclass
class _Batch:
    """What one flush writes. ``latest`` and ``klines`` are conflated, the rest append."""

    latest: dict[str, bytes] = field(default_factory=dict)
    klines: dict[str, dict[int, bytes]] = field(default_factory=dict)
    trades: dict[str, list[bytes]] = field(default_factory=dict)
    freshness: dict[str, dict[str, int]] = field(default_factory=dict)
    events: dict[str, list[bytes]] = field(default_factory=dict)
    markets: dict[str, tuple[dict[str, bytes], bytes]] = field(default_factory=dict)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)  # stats hash key → name → step
    ranked: dict[str, dict[str, _Ranked]] = field(default_factory=dict)
    appended: int = 0  # trades + events held, for the buffer bound
    history: dict[str, dict[int, bytes]] = field(default_factory=dict)  # past candles, see put_history

    def empty(self) -> bool:
        return not (
            self.latest or self.klines or self.history or self.trades or self.freshness or self.events
            or self.markets or self.counters or self.ranked
        )  # fmt: skip

    def absorb_older(self, older: _Batch, max_appended: int) -> int:
        """Merge a batch that failed to write underneath this newer one; return records dropped."""
        for key, value in older.latest.items():
            self.latest.setdefault(key, value)
        for key, candles in older.klines.items():
            mine = self.klines.setdefault(key, {})
            for open_time, value in candles.items():
                mine.setdefault(open_time, value)
        for key, older_fresh in older.freshness.items():
            mine_fresh = self.freshness.setdefault(key, {})
            for name, received in older_fresh.items():
                mine_fresh.setdefault(name, received)
        for instance, markets in older.markets.items():
            self.markets.setdefault(instance, markets)
        for instance, changes in older.ranked.items():
            mine_ranked = self.ranked.setdefault(instance, {})
            for key, change in changes.items():
                mine_ranked.setdefault(key, change)
        for key, counts in older.counters.items():
            mine_counts = self.counters.setdefault(key, {})
            for name, amount in counts.items():
                mine_counts[name] = mine_counts.get(name, 0) + amount
        for key, items in older.trades.items():
            self.trades[key] = items + self.trades.get(key, [])
        for key, items in older.events.items():
            self.events[key] = items + self.events.get(key, [])
        self.appended += older.appended
        return self._enforce_bound(max_appended)

    def _enforce_bound(self, max_appended: int) -> int:
        dropped = 0
        for store in (self.events, self.trades):
            for items in store.values():
                if self.appended <= max_appended:
                    return dropped
                excess = min(len(items), self.appended - max_appended)
                del items[:excess]
                self.appended -= excess
                dropped += excess
        return dropped


class _Flush(NamedTuple):
    """One flush under way: its number, its batch, the history it took, when it started, who
    awaits it."""

    seq: int
    batch: _Batch
    taken: list[tuple[str, int, bytes]]
    started: float
    done: asyncio.Future[int] | None


class _Unanswered(NamedTuple):
    """The batch of a flush that got no answer: written again only if Redis shows it did not run."""

    seq: int
    batch: _Batch


class StoreWriter:
    """Batched, conflating, outage-tolerant writer of normalized records into Redis."""

    def __init__(
        self,
        url: str,
        *,
        keys: KeySchema | None = None,
        flush_interval: float = 0.01,
        max_buffered: int = 100_000,
        trades_cap: int = 1_000,
        arbitrage_ttl: float = 30.0,
        kline_retention: Mapping[Interval, int] | None = None,
        publish: bool = True,
        history_per_flush: int = 1_000,
        max_history: int = 50_000,
        clock: Clock = SYSTEM_CLOCK,
        reply_timeout: float = REPLY_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.keys = keys or KeySchema()
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self.trades_cap = trades_cap
        self.arbitrage_ttl_ms = int(arbitrage_ttl * 1000)
        self.kline_retention = dict(kline_retention or DEFAULT_KLINE_RETENTION)
        self._retention_by_key: dict[str, int] = {}
        """:attr:`kline_retention` by K-line series key (parsing the interval is a Python call)."""
        self.publish = publish
        self.clock = clock
        self.reply_timeout = reply_timeout
        self.stats = WriterStats()
        self._pending = _Batch()
        self._written_latest: dict[str, bytes] = {}
        self._written_markets: dict[str, tuple[dict[str, bytes], bytes]] = {}
        self._written_ranked: dict[str, dict[str, _Ranked]] = {}
        self._reset_callbacks: list[Callable[[], None]] = []
        self._flush_hooks: list[Callable[[], None]] = []
        self._next_hook_log = 0.0
        self._sentinel = self.keys.writer_sentinel(uuid.uuid4().hex[:12])
        self._sentinel_seen = False
        self._seq = 0  # the last flush's number, which its transaction sets the sentinel to
        self._reported = (0, 0, 0, 0, 0, 0)  # the counters already queued, see _take_store_counts
        self._unanswered: _Unanswered | None = None
        self._link: RedisLink | None = None
        self._running = False
        self._timer: asyncio.TimerHandle | None = None
        self._next_at = 0.0  # loop time of the next periodic flush
        self._backoff = flush_interval
        self._under_way = False
        self._idle: list[asyncio.Future[None]] = []  # woken when the flush under way ends
        self._connecting: asyncio.Task[None] | None = None
        self._error_log_times: deque[float] = deque(maxlen=5)
        self._next_slow_log = 0.0
        self._slots: dict[_SlotKey, tuple[str, str, str]] = {}
        self.history_per_flush = history_per_flush
        self.max_history = max_history
        self._history: deque[tuple[str, int, bytes]] = deque()
        self._live_kline_newest: dict[str, int] = {}

    # ---- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start flushing every ``flush_interval`` (connecting on the first flush)."""
        self._running = True
        self._backoff = self.flush_interval
        self._next_at = asyncio.get_running_loop().time()
        self._schedule()

    async def aclose(self) -> None:
        """Stop flushing after a last attempt, and release the connection."""
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._until_idle()  # a flush under way ends first: its batch is not dropped
        try:
            await self.flush()
        except StorageError as exc:
            log.warning("store: final flush failed, %d records not written: %s", self.pending_count(), exc)
        if self._link is not None:
            self._link.close()
            self._link = None

    def on_reset(self, callback: Callable[[], None]) -> None:
        """Register ``callback`` to run after Redis lost its data and the latest state was rewritten."""
        self._reset_callbacks.append(callback)

    def before_flush(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` at the start of every flush, before the pending writes are taken: what it
        queues goes out in that flush (an arbitrage observer evaluates the records that arrived
        since the last flush, at no cost in latency). A hook that raises is logged, at most every
        10 s, and the flush goes on."""
        self._flush_hooks.append(hook)

    def _run_flush_hooks(self) -> None:
        for hook in self._flush_hooks:
            try:
                hook()
            except Exception:
                now = self.clock.monotonic()
                if now >= self._next_hook_log:
                    self._next_hook_log = now + 10.0
                    log.exception("store: a before-flush hook failed (%r)", hook)

    # ---- input (hot path, synchronous) ----------------------------------------------------------
    def put(self, record: Record) -> None:
        """Queue one record for the next flush. Never blocks."""
        self.put_many((record,))

    def put_many(self, records: Iterable[Record]) -> None:
        """Queue many records, in order. Never blocks.

        The per-record hot path of the collector: one loop with its lookups hoisted.
        """
        batch = self._pending
        latest, klines, trades = batch.latest, batch.klines, batch.trades
        freshness, events = batch.freshness, batch.events
        slots, live_newest = self._slots, self._live_kline_newest
        publish = self.publish
        count = appended = 0
        for record in records:
            fields: dict[str, Any] = record.__dict__  # read once: a model's attributes cost ~9x more
            payload = encode(record, fields)
            instance = fields["instance"]
            channel = fields["channel"]
            interval = fields["interval"] if channel is Channel.KLINE else None
            slot = (instance, fields["symbol"], channel, interval)
            found = slots.get(slot)
            kind, key, fresh_field = found if found is not None else self._slot(record, slot)
            if kind is _LATEST:
                latest[key] = payload
            elif kind is _KLINE:
                open_time: int = fields["open_time"]
                series = klines.get(key)
                if series is None:
                    series = klines[key] = {}
                series[open_time] = payload
                if open_time > live_newest.get(key, -1):
                    live_newest[key] = open_time
            else:
                trades.setdefault(key, []).append(payload)
                appended += 1
            fresh = freshness.get(instance)
            if fresh is None:
                fresh = freshness[instance] = {}
            fresh[fresh_field] = fields["receive_time"]
            if publish:
                published = events.get(instance)
                if published is None:
                    published = events[instance] = []
                published.append(payload)
                appended += 1
            count += 1
        self.stats.records += count
        batch.appended += appended
        if batch.appended > self.max_buffered:
            self.stats.dropped += batch._enforce_bound(self.max_buffered)

    def _slot(self, record: Record, slot: _SlotKey) -> tuple[str, str, str]:
        """The key and freshness field of a (instance, symbol, channel, interval), computed once."""
        instance, symbol, channel, _ = slot
        if channel in LATEST_CHANNELS:
            found = (
                _LATEST,
                self.keys.latest(instance, symbol, channel),
                self.keys.freshness_field(symbol, channel),
            )
        elif isinstance(record, Kline):
            key = self.keys.klines(instance, symbol, record.interval)
            found = (_KLINE, key, self.keys.freshness_field(symbol, channel, record.interval))
        elif isinstance(record, Trade):
            found = (_TRADE, self.keys.trades(instance, symbol), self.keys.freshness_field(symbol, channel))
        else:
            raise TypeError(f"cannot store {type(record).__name__}")
        self._slots[slot] = found
        return found

    async def put_history(self, klines: Iterable[Kline]) -> None:
        """Queue past candles (a backfill) behind the live data; waits while the queue is full.

        History is written at most ``history_per_flush`` candles a flush, before that flush's live
        candles, so a large backfill never delays live updates by more than a small chunk. A past
        candle is dropped when the live stream has already written that series at or after its open
        time (the stream's candle is newer). History is stored, not published as live events.
        """
        for kline in klines:
            slot = (kline.instance, kline.symbol, kline.channel, kline.interval)
            found = self._slots.get(slot)
            _, key, _ = found if found is not None else self._slot(kline, slot)
            self._history.append((key, kline.open_time, encode(kline)))
            self.stats.records += 1
        while len(self._history) > self.max_history:
            await self.clock.sleep(self.flush_interval)

    def _take_history(self) -> tuple[dict[str, dict[int, bytes]], list[tuple[str, int, bytes]]]:
        """The next chunk of history to write, and what was taken (to put back if the write fails)."""
        chunk: dict[str, dict[int, bytes]] = {}
        taken: list[tuple[str, int, bytes]] = []
        history, live = self._history, self._live_kline_newest
        while history and len(taken) < self.history_per_flush:
            item = history.popleft()
            taken.append(item)
            key, open_time, payload = item
            newest_live = live.get(key)
            if newest_live is None or open_time < newest_live:
                chunk.setdefault(key, {})[open_time] = payload
        return chunk, taken

    def put_markets(self, instance: str, markets: Sequence[Market], meta: Mapping[str, Any]) -> None:
        """Replace the instance's market list and its entry in the instance registry."""
        encoded = {to_key(m.symbol): encode(m) for m in markets}
        self._pending.markets[instance] = (encoded, orjson.dumps(dict(meta)))

    def put_opportunities(
        self, instance: str, changed: Sequence[RankedItem], closed: Sequence[str], time_ms: int
    ) -> None:
        """Queue changes of the instance's ranked opportunities; the latest state per id wins.

        ``changed`` are written (score and an expiring document, refreshed on every change),
        ``closed`` ids removed; each is published as a ``channel: "arbitrage"`` event stamped
        ``time_ms``. Documents are encoded at flush time, so conflated changes cost nothing.
        """
        pending = self._pending.ranked.setdefault(instance, {})
        for item in changed:
            pending[item.id] = (item.score, item.document, time_ms)
        for key in closed:
            pending[key] = (0.0, None, time_ms)

    def incr(self, instance: str, counter: str, amount: int = 1) -> None:
        """Add to a counter in the instance's stats hash (aggregated per flush)."""
        counts = self._pending.counters.setdefault(self.keys.stats(instance), {})
        counts[counter] = counts.get(counter, 0) + amount

    def _take_store_counts(self, batch: _Batch) -> None:
        """Queue in ``batch`` what the writer's own counters grew by since they were last queued."""
        stats = self.stats
        current = (
            stats.dropped, stats.refused, stats.failures, stats.unanswered, stats.slow_flushes, stats.resets
        )  # fmt: skip
        if current == self._reported:
            return
        counts = batch.counters.setdefault(self.keys.store_stats(), {})
        for name, now, before in zip(STORE_COUNTER_DOCS, current, self._reported, strict=True):
            if now != before:
                counts[name] = counts.get(name, 0) + now - before
        self._reported = current

    def pending_count(self) -> int:
        """Roughly how many writes are waiting."""
        batch = self._pending
        klines = sum(len(c) for c in batch.klines.values())
        held = _size(self._unanswered.batch) if self._unanswered is not None else 0
        return len(batch.latest) + klines + batch.appended + len(self._history) + held

    # ---- flushing -------------------------------------------------------------------------------
    async def flush(self) -> int:
        """Write everything pending now (after the flush under way, if any); return the number of
        commands sent.

        Raises :class:`StorageError` when Redis cannot be reached (the batch is kept for later).
        """
        await self._until_idle()
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if not self._begin(done):
            return 0
        return await done

    async def _until_idle(self) -> None:
        while self._under_way:
            idle: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle.append(idle)
            await idle

    # The periodic flush runs from callbacks, not a task: a timer starts it, and the callback that
    # reads Redis's reply ends it and, when the next one is due (the loop is busy), starts that at
    # once. A task would wait for its turn behind the stream readers twice a flush (after its sleep
    # and after the reply): ~2 ms each at p50 under the paced bench.collect load.
    def _schedule(self) -> None:
        """Arm the timer of the next periodic flush, or start it now when it is due."""
        if not self._running or self._under_way or self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        if self._next_at <= loop.time():
            self._tick()
        else:
            self._timer = loop.call_at(self._next_at, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._running and not self._under_way and not self._begin(None):
            self._ended(None, periodic=True)  # nothing to write: the next one is an interval later

    def _begin(self, done: asyncio.Future[int] | None) -> bool:
        """Start a flush of what is pending (hooks first); False, and nothing sent, when nothing is.
        ``done`` gets its outcome; without it (the periodic flush) a failure is logged."""
        self._run_flush_hooks()
        started = self.clock.monotonic()
        batch, self._pending = self._pending, _Batch()
        batch.history, taken = self._take_history()
        self._take_store_counts(batch)
        if batch.empty():
            if done is not None:
                done.set_result(0)
            return False
        self._under_way = True
        self._seq += 1
        flush = _Flush(self._seq, batch, taken, started, done)
        link = self._link
        if link is None or link.closed:
            connect = self._connect_then_send(flush)
            self._connecting = asyncio.create_task(connect, name="store-writer-connect")
        else:
            self._send(link, flush)
        return True

    async def _connect_then_send(self, flush: _Flush) -> None:
        try:
            with translate_redis_errors("connect"):
                link = await RedisLink.open(
                    self.url, connect_within=CONNECT_TIMEOUT_S, reply_within=self.reply_timeout
                )
                if self._unanswered is not None:
                    await self._settle_unanswered(link, flush.batch)
        except StorageError as exc:
            self._finish(flush, exc)
            return
        except asyncio.CancelledError:  # the flush ends (its batch kept) so that closing can go on
            self._finish(flush, StorageError("redis: connect cancelled"))
            raise
        finally:
            self._connecting = None
        self._link = link
        self._send(link, flush)

    async def _settle_unanswered(self, link: RedisLink, batch: _Batch) -> None:
        """Read whether the flush that got no answer ran (the sentinel holds the number of the last
        flush that did): if it did, account for it as written; if not, put it under ``batch``, the
        next flush's."""
        unanswered = self._unanswered
        assert unanswered is not None
        try:
            (last_run,) = await link.call([("GET", self._sentinel)])
        except ResponseError as exc:  # cannot tell: writing twice beats losing
            log.warning("store: cannot read whether the last flush ran (%s); writing it again", exc)
            last_run = None
        except BaseException:
            link.close()
            raise
        self._unanswered = None
        held = unanswered.batch
        if last_run == b"%d" % unanswered.seq:
            log.info("store: the flush that got no answer had run; %d writes not sent again", _size(held))
            self._note_written(held)
        else:
            self.stats.dropped += batch.absorb_older(held, self.max_buffered)

    def _send(self, link: RedisLink, flush: _Flush) -> None:
        try:
            commands = self._commands(flush.batch, flush.seq)
        except Exception as exc:  # not foreseen: sending it again would fail the same way
            log.exception("store: a flush could not be built; its %d writes are dropped", _size(flush.batch))
            self.stats.dropped += _size(flush.batch)
            self._finish(flush, StorageError(f"store: a flush could not be built: {exc!r}"), keep=False)
            return
        try:
            link.send(commands, lambda outcome: self._finish(flush, outcome, commands))
        except (TypeError, ValueError, OverflowError):  # an argument Redis cannot take: drop only it
            commands = [command for command in commands if self._packable(command)]
            link.send(commands, lambda outcome: self._finish(flush, outcome, commands))

    def _packable(self, command: Command) -> bool:
        """Whether ``command`` can be packed; if not, it is logged and counted as refused."""
        try:
            pack_commands([command])
        except (TypeError, ValueError, OverflowError) as exc:
            self._refused(command, f"cannot be sent: {exc}")
            return False
        return True

    def _refused(self, command: Command, why: str) -> None:
        self.stats.refused += 1
        what = _describe(command)
        self._log_limited(f"store: {what} {why}; its writes are dropped (a retry would fail alike)")

    def _finish(
        self,
        flush: _Flush,
        outcome: list[Any] | Exception,
        commands: list[Command] | None = None,
        *,
        keep: bool = True,
    ) -> None:
        """Account for a flush's outcome (``commands``: what was sent; ``keep``: whether a failed
        batch is kept for the next flush); then the next flush is scheduled (or started)."""
        batch, done = flush.batch, flush.done
        if isinstance(outcome, Exception):
            error = outcome if isinstance(outcome, StorageError) else storage_error("flush", outcome)
            self.stats.failures += 1
            self.stats.connected = False
            self.stats.last_error = str(error)
            self._history.extendleft(reversed(flush.taken))
            batch.history = {}
            if keep and commands is not None and not isinstance(outcome, ResponseError):
                self._hold_unanswered(flush.seq, batch)  # it was sent, and may have run
            elif keep:  # records that arrived during the attempt are newer: merge it under them
                self.stats.dropped += self._pending.absorb_older(batch, self.max_buffered)
            if done is not None:
                if not done.done():  # (its caller may have been cancelled; the flush went on)
                    done.set_exception(error)
            else:
                self._log_failure(error)
            self._ended(error, periodic=done is None)
            return
        lost_data = outcome[0] is None and self._sentinel_seen
        self._sentinel_seen = True
        if commands is not None:
            for command, reply in zip(commands, outcome, strict=True):
                if isinstance(reply, ResponseError):
                    self._refused(command, f"was refused: {reply}")
                elif type(reply) is list:  # a batch script's refused keys
                    for refused in reply:
                        self._refused(("EVAL", "", 1, refused.decode(errors="replace")), "was refused")
        sent = len(outcome)
        self.stats.connected = True
        self.stats.last_error = None
        self.stats.flushes += 1
        self.stats.commands += sent
        self.stats.last_flush_ms = self.clock.now_ms()
        self._note_duration(self.clock.monotonic() - flush.started, sent)
        self._note_written(batch)
        if lost_data:
            self._rewrite_after_reset()
        if done is not None and not done.done():
            done.set_result(sent)
        self._ended(None, periodic=done is None)

    def _note_written(self, batch: _Batch) -> None:
        """Remember what ``batch`` wrote, to write it again if Redis loses its data."""
        self._written_latest.update(batch.latest)
        self._written_markets.update(batch.markets)
        self._remember_ranked(batch.ranked)

    def _hold_unanswered(self, seq: int, batch: _Batch) -> None:
        """Hold the batch of a sent flush that got no answer: the next connection reads whether it
        ran before it is written again."""
        self.stats.unanswered += 1
        if self._unanswered is not None:  # (not expected: a new link settles the last one first)
            self.stats.dropped += self._pending.absorb_older(self._unanswered.batch, self.max_buffered)
        self._unanswered = _Unanswered(seq, batch)

    def _ended(self, error: StorageError | None, *, periodic: bool) -> None:
        """A flush ended (or found nothing to write): wake who waits; after a periodic one, set the
        next one's time on the cadence (backing off, capped and doubling, while Redis fails); then
        schedule it."""
        self._under_way = False
        idle, self._idle = self._idle, []
        for waiter in idle:
            if not waiter.done():
                waiter.set_result(None)
        if periodic:
            now = asyncio.get_running_loop().time()
            if error is None:
                self._backoff = self.flush_interval
                self._next_at = max(self._next_at + self._backoff, now)  # behind: no debt of flushes
            else:
                self._backoff = min(max(self._backoff * 2, 0.05), 2.0)
                self._next_at = now + self._backoff
        self._schedule()

    def _note_duration(self, took: float, commands: int) -> None:
        self.stats.last_flush_seconds = took
        if took < SLOW_FLUSH_S:
            return
        self.stats.slow_flushes += 1
        now = self.clock.monotonic()
        if now >= self._next_slow_log:
            self._next_slow_log = now + 10.0
            log.warning(
                "store: a flush of %d commands took %.0f ms (%d slow flushes so far)",
                commands,
                took * 1000,
                self.stats.slow_flushes,
            )

    def _rewrite_after_reset(self) -> None:
        self.stats.resets += 1
        log.warning(
            "store: redis lost its data (restart?); rewriting %d latest values and %d market lists",
            len(self._written_latest),
            len(self._written_markets),
        )
        for key, value in self._written_latest.items():
            self._pending.latest.setdefault(key, value)
        for instance, markets in self._written_markets.items():
            self._pending.markets.setdefault(instance, markets)
        for instance, items in self._written_ranked.items():
            pending = self._pending.ranked.setdefault(instance, {})
            for key, change in items.items():
                pending.setdefault(key, change)
        for callback in self._reset_callbacks:
            callback()

    def _commands(self, batch: _Batch, seq: int) -> list[Command]:
        """The commands that write ``batch``, flush number ``seq``. The first sets the sentinel to
        ``seq`` and reads it back: none there means Redis lost its data; and after a flush that got
        no answer, the sentinel tells whether it ran."""
        keys = self.keys
        commands: list[Command] = [("SET", self._sentinel, seq, "EX", 86_400, "GET")]
        for instance, (markets, meta) in batch.markets.items():
            commands.append(("DEL", keys.markets(instance)))
            if markets:
                commands.append(("HSET", keys.markets(instance), *_flat(markets)))
            commands.append(("HSET", keys.instances(), instance, meta))
        if batch.latest:
            commands.append(("MSET", *_flat(batch.latest)))
        if batch.history:  # before the live candles, so a live update of the same candle wins
            commands.append(("EVAL", UPSERT_KLINES, len(batch.history), *self._kline_args(batch.history)))
        if batch.klines:
            commands.append(("EVAL", UPSERT_KLINES, len(batch.klines), *self._kline_args(batch.klines)))
        if batch.trades:
            commands.append(("EVAL", APPEND_TRADES, len(batch.trades), *self._trade_args(batch.trades)))
        for instance, fresh in batch.freshness.items():
            commands.append(("HSET", keys.freshness(instance), *_flat(fresh)))
        for stats, counts in batch.counters.items():  # by the key of their hash
            commands += [("HINCRBY", stats, name, amount) for name, amount in counts.items()]
        ranked_events = self._queue_ranked(commands, batch.ranked)
        for instance in batch.events.keys() | ranked_events.keys():
            events = batch.events.get(instance, []) + ranked_events.get(instance, [])
            if events:
                commands.append(("PUBLISH", keys.events(instance), b"[" + b",".join(events) + b"]"))
        return commands

    def _queue_ranked(
        self, commands: list[Command], ranked: dict[str, dict[str, _Ranked]]
    ) -> dict[str, list[bytes]]:
        """Add the opportunity writes to ``commands``; return the events to publish, by instance."""
        events: dict[str, list[bytes]] = {}
        ttl = self.arbitrage_ttl_ms
        for instance, items in ranked.items():
            ranking = self.keys.arbitrage(instance)
            scores: list[Arg] = []
            closed: list[str] = []
            published = events.setdefault(instance, [])
            head = b'{"channel":"arbitrage","instance":' + orjson.dumps(instance)
            for key, (score, document, time_ms) in items.items():
                item_key = self.keys.arbitrage_item(instance, key)
                if document is None:
                    closed.append(key)
                    commands.append(("DEL", item_key))
                    body = b',"status":"closed","opportunity":null'
                else:
                    scores += (repr(float(score)), key)
                    payload = type(document).__pydantic_serializer__.to_json(document)
                    commands.append(("SET", item_key, payload, "PX", ttl))
                    body = b',"status":"open","opportunity":' + payload
                if self.publish:
                    tail = b',"receive_time":' + str(time_ms).encode() + b"}"
                    published.append(head + b',"id":' + orjson.dumps(key) + body + tail)
            if closed:
                commands.append(("ZREM", ranking, *closed))
            if scores:
                commands.append(("ZADD", ranking, *scores))
                commands.append(("PEXPIRE", ranking, ttl))
        return events

    def _remember_ranked(self, ranked: dict[str, dict[str, _Ranked]]) -> None:
        """Track the open opportunities written, to rewrite them if Redis loses its data."""
        for instance, items in ranked.items():
            mine = self._written_ranked.setdefault(instance, {})
            for key, change in items.items():
                if change[1] is None:
                    mine.pop(key, None)
                else:
                    mine[key] = change

    def _kline_args(self, klines: dict[str, dict[int, bytes]]) -> list[Any]:
        key_names: list[Any] = []
        argv: list[Any] = []
        retention_by_key = self._retention_by_key
        for key, candles in klines.items():
            key_names.append(key)
            retention = retention_by_key.get(key)
            if retention is None:
                interval = Interval.parse(key.rsplit(":", 1)[1])
                retention = retention_by_key[key] = self.kline_retention.get(interval, 0)
            argv += (len(candles), retention)
            for open_time in sorted(candles):
                argv += (open_time, candles[open_time])
        return key_names + argv

    def _trade_args(self, trades: dict[str, list[bytes]]) -> list[Any]:
        key_names: list[Any] = list(trades)
        argv: list[Any] = []
        for items in trades.values():
            argv += (len(items), self.trades_cap)
            argv += items
        return key_names + argv

    def _log_failure(self, exc: StorageError) -> None:
        self._log_limited(f"store: {exc}; {self.pending_count()} writes kept for retry")

    def _log_limited(self, message: str) -> None:
        """Log a warning, at most 5 a minute."""
        now = self.clock.monotonic()
        if len(self._error_log_times) == self._error_log_times.maxlen and now - self._error_log_times[0] < 60:
            return
        self._error_log_times.append(now)
        log.warning("%s", message)


def _describe(command: Command) -> str:
    """A command's name and key, for a log line (never its values; a script by its first key)."""
    name, args = command[0], command[1:]
    if name == "EVAL" and len(args) > 2 and args[1] != 0:
        more = int(args[1]) - 1 if isinstance(args[1], int) else 0
        return f"EVAL of {args[2]!s}" + (f" and {more} more keys" if more else "")
    return f"{name!s} {args[0]!s}" if args and isinstance(args[0], str) else f"{name!s}"


def _size(batch: _Batch) -> int:
    """How many writes ``batch`` holds (its conflated values, appends and counters)."""
    klines = sum(len(candles) for candles in batch.klines.values())
    return len(batch.latest) + klines + batch.appended + sum(len(c) for c in batch.counters.values())


def _flat(mapping: Mapping[str, Any]) -> list[Arg]:
    """``{k: v, …}`` as ``[k, v, …]``, the arguments of ``MSET``/``HSET``."""
    flat: list[Arg] = []
    for pair in mapping.items():
        flat += pair
    return flat
