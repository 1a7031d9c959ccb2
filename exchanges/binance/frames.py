"""Binance stream frames to records: the part of a stream session every frame passes through.

:class:`FrameReader` turns one combined-stream frame into records (quotes, trades and prices,
tickers, klines, and order books from the local books it keeps) and hands them to an
:class:`Outbox`. It has no I/O: :class:`~exchanges.binance.streams.StreamSession` subclasses it with
the connections and the REST snapshots (:meth:`FrameReader._ensure_snapshot`). This module is
compiled with mypyc (``setup.py``); the session's module, with its async generator, cannot be.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from mypy_extensions import mypyc_attr

from core.clock import Clock
from core.errors import BadResponseError, SequenceGapError, VenueShutdownError
from core.models import Channel, OrderBook, Record
from core.records import trusted
from exchanges.binance.book import LocalBook
from exchanges.binance.levels import DEFAULT_MAX_LEVELS
from exchanges.binance.parsers import BinanceParser

log = logging.getLogger("exchanges.binance.streams")  # the session's logger: one name for its logs

REFRESH_MARGIN = 2
"""A book is refreshed when fewer than this many times its served levels lie inside its edge."""


REFRESH_EVERY_S = 5.0
"""Shortest time between two refreshes of one symbol's book once its snapshots are as deep as they
go (stepping up to a deeper size is never delayed: it happens a few times at most). In between, a
book past its edge is served as deep as it is known; this bounds the REST weight a fast market can
spend on refreshes (up to 250 each)."""


DEEPENING_LOG_EVERY_S = 60.0
"""Books stepping up to deeper snapshots are summed up in one INFO line at most this often."""


def refresh_levels(served: int, deepest_snapshot: int) -> int:
    """Known levels a side must keep before its book is refreshed: twice the ``served`` ones, but
    never so many that even the deepest snapshot would not satisfy it for long (then refreshes
    would follow each other), and never fewer than those served."""
    return min(REFRESH_MARGIN * served, max(served, deepest_snapshot // 2))


@dataclass
class StreamStats:
    """Counters of one adapter's streams, for logs and tests."""

    frames: int = 0
    conflated: int = 0
    """Frames skipped because a later frame of their stream, read in the same batch, replaced them."""
    conflation_logged: float | None = None
    """When (monotonic) skipping was last logged: once a minute for all the adapter's connections."""
    malformed: Counter[str] = field(default_factory=Counter)
    resyncs: Counter[str] = field(default_factory=Counter)
    snapshots: Counter[str] = field(default_factory=Counter)
    snapshot_failures: Counter[str] = field(default_factory=Counter)
    refreshes: Counter[str] = field(default_factory=Counter)
    """Books refreshed because their served levels neared the snapshot's depth."""
    deepened: Counter[int] = field(default_factory=Counter)
    """Books whose snapshots stepped up to a deeper size, by that size, since it was last logged."""
    deepening_logged: float | None = None
    """When (monotonic) stepping up was last logged: at most once a minute for all connections."""
    renewals: int = 0
    """Connections replaced by a new one before they ended (``serverShutdown``, the 24-hour cut)."""
    stale: int = 0
    """Quotes, prices and kline updates skipped because a newer one of the same stream was already
    read (while a connection is replaced, both deliver; or frames out of order)."""


class Outbox:
    """Records parsed by the connections, waiting for the consumer, and the error that ends the session.

    A frame appends its records to one list and, if the consumer was not told yet, sets an event;
    the consumer takes the whole list at once. (An ``asyncio.Queue`` cost a put and a get, ~1.5 µs,
    per frame; ``Event.set()`` is a Python call, so it is made once per wake-up, not per frame.)
    """

    __slots__ = ("_ready", "_told", "error", "records")

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.error: BaseException | None = None
        self._ready = asyncio.Event()
        self._told = False

    def _tell(self) -> None:
        if not self._told:
            self._told = True
            self._ready.set()

    def put(self, records: list[Record]) -> None:
        """Hand over ``records`` (in order)."""
        self.records += records
        self._tell()

    def add(self, record: Record) -> None:
        """Hand over one record."""
        self.records.append(record)
        self._tell()

    def fail(self, error: BaseException) -> None:
        """End the session with ``error`` once the records before it are taken (first error wins)."""
        if self.error is None:
            self.error = error
        self._tell()

    def take(self) -> list[Record]:
        """Every record handed over so far (possibly none)."""
        records, self.records = self.records, []
        return records

    async def wait(self) -> None:
        """Return when there are records or an error."""
        await self._ready.wait()
        self._ready.clear()
        self._told = False


@mypyc_attr(allow_interpreted_subclasses=True)  # the stream session, and tests' readers
class FrameReader:
    """Frames of one stream session in, records out (see the module's docstring)."""

    def __init__(
        self,
        *,
        parser: BinanceParser,
        depth_levels: int,
        clock: Clock,
        stats: StreamStats,
        book_max_levels: int = DEFAULT_MAX_LEVELS,
        snapshot_limits: Sequence[int] = (100,),
        learned_limits: dict[str, int] | None = None,
    ) -> None:
        self.parser = parser
        self.depth_levels = depth_levels
        self.clock = clock
        self.stats = stats
        self.book_max_levels = book_max_levels
        self.snapshot_limits = sorted(snapshot_limits)
        """Snapshot depths from the first one asked to the deepest a refresh may step up to."""
        self.refresh_levels = refresh_levels(depth_levels, self.snapshot_limits[-1])
        self._refreshed_at: dict[str, float] = {}
        self._snapshot_limit: dict[str, int] = {} if learned_limits is None else learned_limits
        """The depth each refreshed symbol stepped up to (the adapter's: it outlives reconnects)."""
        self.outbox = Outbox()
        self.handovers = 0
        """Connections being handed over (two deliver the same streams): meanwhile a depth event
        ahead of its book waits for the other connection's (see :meth:`LocalBook.on_diff`)."""
        self._books: dict[str, LocalBook] = {}
        self._wanted: Mapping[str, frozenset[Channel]] = {}
        self._quote_ids: dict[str, int] = {}
        """The newest ``bookTicker`` update id read, by Binance symbol."""
        self._price_ids: dict[str, int] = {}
        """The id of the newest trade whose price was emitted, by Binance symbol."""
        self._kline_newest: dict[tuple[str, str], tuple[int, int]] = {}
        """(open time, event time) of the newest kline update read, by (Binance symbol, interval)."""

    # ---- frames --------------------------------------------------------------------------------
    def _on_frame(self, message: str | bytes, receive_time: int) -> None:
        self.stats.frames += 1
        try:
            frame = orjson.loads(message)
            data = frame["data"] if "stream" in frame else frame
            event = data.get("e") if isinstance(data, dict) else None
        except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
            self._malformed("?", "not a JSON object", message)
            return
        if event is None:
            self._on_control(data, message, receive_time)
            return
        if event == "serverShutdown":
            raise VenueShutdownError("binance: the venue announced serverShutdown; reconnect")
        try:
            records = self._records(event, data, receive_time)
        except BadResponseError as exc:
            self._malformed(str(data.get("s", "?")), str(exc), message)
            return
        if records:
            self.outbox.put(records)

    def _records(self, event: str, data: dict[str, Any], receive_time: int) -> list[Record]:
        p = self.parser
        if event == "depthUpdate":
            return self._on_depth(data, receive_time)
        if event == "24hrTicker":
            return [p.ws_ticker(data, receive_time)]
        if event in ("trade", "aggTrade"):
            wanted = self._wanted.get(p.unified(str(data.get("s", ""))), frozenset())
            out: list[Record] = []
            if Channel.TRADES in wanted:
                out.append(p.ws_trade(data, receive_time))
            if Channel.PRICE in wanted:
                if self._stale_price(data):
                    self.stats.stale += 1
                else:
                    out.append(p.ws_price(data, receive_time))
            return out
        if event == "kline":
            if self._stale_kline(data):
                self.stats.stale += 1
                return []
            return [p.ws_kline(data, receive_time)]
        raise BadResponseError(f"binance: unexpected event type {event!r}")

    def _stale_quote(self, frame: dict[str, Any]) -> bool:
        """True for a ``bookTicker`` older than one already read (its order book update id ``u`` is
        lower); a frame whose fields are not as documented is left to the parser to refuse."""
        update_id, symbol = frame["u"], frame["s"]
        if type(update_id) is not int or type(symbol) is not str:
            return False
        newest = self._quote_ids.get(symbol)
        if newest is not None and update_id < newest:
            return True
        self._quote_ids[symbol] = update_id
        return False

    def _stale_price(self, data: dict[str, Any]) -> bool:
        """True for a trade no newer (by id) than one already read: its price is not the latest. The
        trade itself is kept (the sink drops one it already has)."""
        trade_id, symbol = data.get("t", data.get("a")), data.get("s")
        if type(trade_id) is not int or type(symbol) is not str:
            return False
        newest = self._price_ids.get(symbol)
        if newest is not None and trade_id <= newest:
            return True
        self._price_ids[symbol] = trade_id
        return False

    def _stale_kline(self, data: dict[str, Any]) -> bool:
        """True for a kline update older than one already read: an earlier state of the newest candle,
        or an update of an older candle that is not its final one (``x``). A final update is always
        kept: a candle that closed while its stream moved to a new connection may get no other."""
        k = data.get("k")
        if not isinstance(k, dict):
            return False
        symbol, interval, open_time, event_time = data.get("s"), k.get("i"), k.get("t"), data.get("E")
        if type(open_time) is not int or type(event_time) is not int:
            return False
        if type(symbol) is not str or type(interval) is not str:
            return False
        key = (symbol, interval)
        newest = self._kline_newest.get(key)
        if newest is not None:
            newest_open, newest_event = newest
            if open_time < newest_open:
                return k.get("x") is not True
            if open_time == newest_open and event_time < newest_event:
                return True
        self._kline_newest[key] = (open_time, event_time)
        return False

    def _on_control(self, frame: Any, message: str | bytes, receive_time: int) -> None:
        if isinstance(frame, dict) and "b" in frame and "u" in frame and "s" in frame:
            if self._stale_quote(frame):
                self.stats.stale += 1
                return
            try:  # bookTicker events carry no "e"
                self.outbox.add(self.parser.ws_book_ticker(frame, receive_time))
            except BadResponseError as exc:
                self._malformed(str(frame.get("s", "?")), str(exc), message)
            return
        if isinstance(frame, dict) and "id" in frame and "result" in frame:
            return  # SUBSCRIBE acknowledged
        if isinstance(frame, dict) and "code" in frame and "msg" in frame:
            log.warning(
                "%s: websocket request refused: %s %s",
                self.parser.instance,
                frame.get("code"),
                frame.get("msg"),
            )
            return
        self._malformed("?", "unrecognised frame", message)

    def _malformed(self, symbol: str, reason: str, message: str | bytes) -> None:
        self.stats.malformed[symbol] += 1
        count = self.stats.malformed[symbol]
        if count <= 3 or count % 1000 == 0:
            log.warning(
                "%s: %s: skipped malformed frame #%d (%s): %.200r",
                self.parser.instance,
                symbol,
                count,
                reason,
                message,
            )

    # ---- depth ---------------------------------------------------------------------------------
    def _on_depth(self, data: dict[str, Any], receive_time: int) -> list[Record]:
        diff = self.parser.ws_depth(data)
        book = self._books.get(diff.symbol)
        if book is None:
            book = self._books[diff.symbol] = LocalBook(
                diff.symbol, self.parser.levels_kit, self.book_max_levels
            )
        try:
            changed = book.on_diff(diff, merging=self.handovers > 0)
        except SequenceGapError as exc:
            self.stats.resyncs[diff.symbol] += 1
            log.warning("%s: %s; resyncing this symbol only", self.parser.instance, exc)
            changed = False
        if not book.synced:
            self._ensure_snapshot(diff.symbol)
            return []
        if not changed:
            return []
        if book.needs_refresh(self.refresh_levels):
            self._refresh(book)
        if not book.servable:
            return []  # a side has no level it knows: the last stored book stays until a refresh lands
        return [self._book_record(book, receive_time)]

    def _snapshot_limit_of(self, symbol: str) -> int:
        """The depth of the next snapshot of ``symbol``."""
        return self._snapshot_limit.get(symbol, self.snapshot_limits[0])

    def _refresh(self, book: LocalBook) -> None:
        """Sync a new, one size deeper snapshot into ``book`` while it is served (see
        :meth:`LocalBook.refresh`); at the deepest size, at most every :data:`REFRESH_EVERY_S`."""
        symbol, now = book.symbol, self.clock.monotonic()
        limit = self._snapshot_limit_of(symbol)
        deeper = next((n for n in self.snapshot_limits if n > limit), None)
        if deeper is None and now - self._refreshed_at.get(symbol, -REFRESH_EVERY_S) < REFRESH_EVERY_S:
            return
        self._refreshed_at[symbol] = now
        self.stats.refreshes[symbol] += 1
        if deeper is not None:
            self._snapshot_limit[symbol] = deeper
            self._log_deepening(symbol, limit, deeper)
        book.refresh()
        self._ensure_snapshot(symbol)

    def _log_deepening(self, symbol: str, limit: int, deeper: int) -> None:
        """Say that ``symbol``'s book steps up to ``deeper``-level snapshots: at DEBUG each time, at
        INFO the first time and then at most every :data:`DEEPENING_LOG_EVERY_S` for all the
        adapter's books (a busy start-up steps up hundreds of them within minutes)."""
        instance, stats = self.parser.instance, self.stats
        message = "%s: %s: the market moved near the edge of its %d-level snapshot; refreshing with %d levels"
        log.debug(message, instance, symbol, limit, deeper)
        stats.deepened[deeper] += 1
        now, logged = self.clock.monotonic(), stats.deepening_logged
        if logged is not None and now - logged < DEEPENING_LOG_EVERY_S:
            return
        stats.deepening_logged = now
        if sum(stats.deepened.values()) == 1:
            log.info(message, instance, symbol, limit, deeper)
        else:
            sizes = ", ".join(f"{count} to {size}" for size, count in sorted(stats.deepened.items()))
            log.info(
                "%s: %d books moved near the edge of their snapshots and refresh with deeper ones "
                "(levels: %s; latest %s); each is logged at DEBUG",
                instance,
                sum(stats.deepened.values()),
                sizes,
                symbol,
            )
        stats.deepened.clear()

    def _ensure_snapshot(self, symbol: str) -> None:
        """Have a REST snapshot of ``symbol`` loaded into its book (in the background)."""
        raise NotImplementedError

    def _book_record(self, book: LocalBook, receive_time: int) -> OrderBook:
        bids, asks = book.top(self.depth_levels)  # exact Decimals the parser already checked
        return trusted(
            OrderBook,
            instance=self.parser.instance,
            symbol=book.symbol,
            event_time=book.event_time,
            receive_time=receive_time,
            bids=bids,
            asks=asks,
            sequence=book.last_update_id,
            depth=self.depth_levels,
        )


_REPLACEABLE = ("@bookTicker", "@ticker")
"""Streams whose every frame carries the stream's whole state: a later frame replaces an earlier one."""


def conflate(frames: Sequence[str | bytes], stats: StreamStats) -> list[str | bytes]:
    """``frames`` (combined-stream frames, oldest first) without the quotes and 24h tickers that a
    later frame of the same stream among them replaces; every other frame is kept, in order.

    The stream is read from the frame's head, ``{"stream":"bnbbtc@bookTicker",…``, as Binance
    writes it; a frame of another form is kept.
    """
    kept: list[str | bytes] = []
    seen: set[str] = set()
    for frame in reversed(frames):
        name = _stream_of(frame)
        if name is not None and name.endswith(_REPLACEABLE):
            if name in seen:
                stats.conflated += 1
                continue
            seen.add(name)
        kept.append(frame)
    kept.reverse()
    return kept


def _stream_of(frame: str | bytes) -> str | None:
    """The stream name at the head of a combined-stream frame, or ``None``."""
    text = frame if isinstance(frame, str) else frame[:80].decode("utf-8", "replace")
    if not text.startswith('{"stream":"'):
        return None
    end = text.find('"', 11)
    return text[11:end] if end > 0 else None
