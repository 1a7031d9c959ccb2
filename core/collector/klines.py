"""Keeping every stored K-line series gap-free: catch up from the newest written candle over REST.

One operation serves polling and backfill: :meth:`KlineSync.catch_up` fetches, page by page, every
candle from a start open time to the current one. The start is the newest candle this process wrote
(the sink's cursor), the newest stored in Redis at start-up, the cursor as it was when a stream went
down, or — with nothing known, or after Redis lost its data — ``kline_history`` candles back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from core.adapter import ExchangeAdapter
from core.clock import Clock
from core.collector.backoff import Backoff
from core.collector.metrics import InstanceMetrics, ThrottledLog
from core.collector.rest import RestGateway
from core.collector.sink import KlineKey, RecordSink
from core.errors import NotSupportedError, QuotewireError, StorageError
from core.intervals import Interval
from core.models import Kline
from core.store import StoreReader
from core.store.codec import decode

log = logging.getLogger(__name__)

BACKFILL_CONCURRENCY = 4
"""(symbol, interval) series backfilled at once per instance."""


def history_start(interval: Interval, now_ms: int, candles: int, utc_offset_ms: int = 0) -> int:
    """The open time of the oldest of the newest ``candles`` candles of ``interval`` at ``now_ms``
    (possibly before 1970: the callers clamp to the epoch).

    Computed, not stepped back candle by candle: with 1,000 candles of history, stepping took ~1 ms
    a series, and the K-line poller (see :meth:`KlineSync.poll`) ran it for every series every cycle.
    """
    open_time = interval.open_time(now_ms, utc_offset_ms)
    back = max(0, candles - 1)
    if interval is not Interval.MO1:  # every other interval has a fixed length
        return open_time - back * (interval.next_open_time(open_time, utc_offset_ms) - open_time)
    local = dt.datetime.fromtimestamp((open_time + utc_offset_ms) / 1000, tz=dt.UTC)
    year, month = divmod(max(12, local.year * 12 + local.month - 1 - back), 12)  # from year 1
    return int(dt.datetime(year, month + 1, 1, tzinfo=dt.UTC).timestamp() * 1000) - utc_offset_ms


@dataclass(frozen=True)
class BackfillRequest:
    """What to backfill: from ``since`` per series; series missing there (or all, when ``full``) get
    the whole history. Never "from the cursor": live data may already have moved it past a hole."""

    reason: str
    keys: Sequence[KlineKey]
    since: Mapping[KlineKey, int] = field(default_factory=dict)
    full: bool = False


def merge_requests(requests: Sequence[BackfillRequest]) -> BackfillRequest:
    """One request serving all of ``requests``: every series once, from the earliest start any of
    them asks for (the whole history when one does)."""
    if len(requests) == 1:
        return requests[0]
    starts: dict[KlineKey, int | None] = {}
    for request in requests:
        for key in request.keys:
            since = None if request.full else request.since.get(key)
            if key in starts:
                known = starts[key]
                since = None if since is None or known is None else min(since, known)
            starts[key] = since
    reasons = dict.fromkeys(r.reason for r in requests)
    return BackfillRequest(
        ", ".join(reasons),
        list(starts),
        since={key: since for key, since in starts.items() if since is not None},
    )


class KlineSync:
    """Catch-up fetching of K-lines for one instance, one series at a time."""

    def __init__(
        self,
        adapter: ExchangeAdapter,
        gateway: RestGateway,
        sink: RecordSink,
        metrics: InstanceMetrics,
        clock: Clock,
        *,
        history: int,
    ) -> None:
        self.adapter = adapter
        self.instance = adapter.instance
        self.gateway = gateway
        self.sink = sink
        self.metrics = metrics
        self.clock = clock
        self.history = history
        caps = adapter.capabilities
        self.page = max(1, caps.max_klines_per_request)
        self.utc_offset_ms = caps.utc_offset_ms
        self.requests: asyncio.Queue[BackfillRequest] = asyncio.Queue()
        self.backfills_done = 0
        self._locks: dict[KlineKey, asyncio.Lock] = {}
        self._warn = ThrottledLog(log, clock)

    # ---- one series -----------------------------------------------------------------------------
    async def catch_up(self, key: KlineKey, since: int | None = None) -> int:
        """Write every candle of ``key`` from ``since`` (default: the cursor) to now; return the count.

        Never goes further back than ``kline_history`` candles. Raises TransientError (and the other
        adapter errors) for the caller to retry.
        """
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            symbol, interval = key
            now = self.clock.now_ms()
            # never before the epoch: 1,000 monthly candles reach back to the 1940s, and venues
            # (HTX: "invalid from") reject negative times
            oldest = max(0, history_start(interval, now, self.history, self.utc_offset_ms))
            current = interval.open_time(now, self.utc_offset_ms)
            start = since if since is not None else self.sink.kline_cursor.get(key, oldest)
            start = max(start, oldest)
            written = 0
            for _ in range(self.history // self.page + 3):  # bounded: the history fits in these pages
                candles = await self._fetch(symbol, interval, start)
                # the running and the just-closed candle are live data (fresh, published);
                # older ones go through the store's history lane, behind live updates
                recent = interval.open_time(current - 1, self.utc_offset_ms)
                written += await self.sink.put_history([c for c in candles if c.open_time < recent])
                written += self.sink.put([c for c in candles if c.open_time >= recent])
                if len(candles) < self.page or candles[-1].open_time >= current:
                    break
                start = interval.next_open_time(candles[-1].open_time, self.utc_offset_ms)
            return written

    async def poll(self, key: KlineKey) -> int:
        """Keep ``key`` current for REST polling: from the cursor or, before anything was written,
        from the candle before the current one. Older history is the backfill's job: a poll that
        fetched the whole ``kline_history`` for every series not yet written (up to two pages
        each, every cycle, at live priority) buried the live streams at start-up."""
        start = self.sink.kline_cursor.get(key)
        if start is None:
            start = history_start(key[1], self.clock.now_ms(), 2, self.utc_offset_ms)
        return await self.catch_up(key, start)

    async def _fetch(self, symbol: str, interval: Interval, start: int) -> list[Kline]:
        async def request() -> list[Kline]:
            return await self.adapter.fetch_klines(symbol, interval, start_ms=start, limit=self.page)

        return await self.gateway.call("klines", request, symbol=symbol)

    # ---- start-up and backfill ------------------------------------------------------------------
    async def seed_from_store(self, reader: StoreReader, keys: Iterable[KlineKey]) -> int:
        """Set cursors to the newest candle already stored; return how many series had some."""
        found = 0
        for symbol, interval in keys:
            try:
                newest = await reader.klines_range(
                    self.instance, symbol, interval, limit=1, newest_first=True
                )
            except StorageError as exc:
                log.warning(
                    "%s: cannot read stored K-lines (%s); backfilling full history", self.instance, exc
                )
                return found
            if newest:
                kline = decode(newest[0], Kline)
                self.sink.kline_cursor.setdefault((symbol, interval), kline.open_time)
                found += 1
        return found

    def request(self, request: BackfillRequest) -> None:
        """Queue a backfill (safe from synchronous callbacks)."""
        self.requests.put_nowait(request)

    async def run_backfills(self, backoff: Backoff) -> None:
        """The backfill loop: serve queued requests until every series in each is complete.

        Requests queued while a backfill runs are served together, as one: after a reconnect every
        series that missed a candle also reports a gap, and one request per series ran one at a
        time (~10 series/s) where one request for all runs :data:`BACKFILL_CONCURRENCY` at once.
        """
        while True:
            waiting = [await self.requests.get()]
            while not self.requests.empty():  # queued meanwhile (a gap per series after a reconnect)
                waiting.append(self.requests.get_nowait())
            await self._backfill(merge_requests(waiting), backoff)

    async def _backfill(self, request: BackfillRequest, backoff: Backoff) -> None:
        self.metrics.incr("resyncs")
        now = self.clock.now_ms()
        pending: dict[KlineKey, int | None] = {}
        for key in request.keys:
            since = None if request.full else request.since.get(key)
            pending[key] = (
                since if since is not None else history_start(key[1], now, self.history, self.utc_offset_ms)
            )
        log.info("%s: backfilling K-lines of %d series (%s)", self.instance, len(pending), request.reason)
        written = 0
        semaphore = asyncio.Semaphore(BACKFILL_CONCURRENCY)
        while pending:
            failed: dict[KlineKey, int | None] = {}

            async def one(key: KlineKey, since: int | None, failed: dict[KlineKey, int | None]) -> None:
                nonlocal written
                async with semaphore:
                    try:
                        written += await self.catch_up(key, since)
                    except NotSupportedError as exc:
                        self._warn.warning(f"unsupported {key}", "%s %s: %s", self.instance, key[0], exc)
                    except QuotewireError:
                        failed[key] = since  # logged and counted by the gateway
                    except Exception as exc:
                        failed[key] = since
                        self._warn.error(
                            f"backfill {key}",
                            "%s %s: backfill %s failed: %r",
                            self.instance,
                            key[0],
                            key[1],
                            exc,
                        )

            async with asyncio.TaskGroup() as group:
                for key, since in pending.items():
                    group.create_task(
                        one(key, since, failed), name=f"backfill:{self.instance}:{key[0]}:{key[1]}"
                    )
            pending = failed
            if pending:
                await self.clock.sleep(backoff.next())
        backoff.reset()
        self.backfills_done += 1
        log.info("%s: backfill done, %d candles written (%s)", self.instance, written, request.reason)
