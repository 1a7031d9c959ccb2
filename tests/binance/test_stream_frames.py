"""The stream session's frame handling without a network: recorded frames in, records out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import SYSTEM_CLOCK
from core.errors import TransientError, VenueShutdownError
from core.models import Channel, OrderBook, Price, Quote, Record, Trade
from exchanges.binance.frames import (
    DEEPENING_LOG_EVERY_S,
    REFRESH_EVERY_S,
    Outbox,
    StreamStats,
    refresh_levels,
)
from exchanges.binance.parsers import BinanceParser, DepthSnapshot
from exchanges.binance.streams import (
    SnapshotGate,
    StreamSession,
    plan_streams,
    shard_streams,
    shard_subscriptions,
)
from tests.support.collector import ManualClock

Load = Callable[[str], Any]
NKN = "NKN/USDT"
BNB = "BNB/USDT"


class Session:
    """A :class:`StreamSession` whose snapshots come from fixtures, fed frames by hand."""

    def __init__(self, parser: BinanceParser, snapshots: dict[str, list[DepthSnapshot]]) -> None:
        self.stats = StreamStats()
        self.snapshots = snapshots
        self.session = StreamSession(
            base_url="ws://127.0.0.1:9",
            parser=parser,
            fetch_snapshot=self.fetch,
            depth_levels=5,
            clock=SYSTEM_CLOCK,
            stats=self.stats,
        )
        self.session._wanted = {s: frozenset(Channel) for s in (NKN, BNB, "BNB/BTC")}

    async def fetch(self, symbol: str, limit: int, urgent: bool) -> DepthSnapshot:
        return self.snapshots[symbol].pop(0)

    async def feed(self, frame: Any) -> None:
        self.session._on_frame(frame if isinstance(frame, bytes) else orjson.dumps(frame), 1)
        await asyncio.sleep(0)  # let snapshot tasks run
        await asyncio.sleep(0)

    def drain(self) -> list[Record]:
        assert self.session.outbox.error is None
        return self.session.outbox.take()


def renamed(frame: dict[str, Any], native: str) -> dict[str, Any]:
    data = {**frame["data"], "s": native}
    return {"stream": f"{native.lower()}@depth@100ms", "data": data}


async def test_the_outbox_wakes_its_consumer_once_per_batch_and_again_after() -> None:
    outbox, price = Outbox(), Price(instance="b", symbol="X/Y", event_time=None, receive_time=1, price="1")
    for _ in range(3):
        outbox.add(price)
    await asyncio.wait_for(outbox.wait(), 1)
    assert outbox.take() == [price] * 3
    waiting = asyncio.ensure_future(outbox.wait())
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing new: the consumer sleeps
    outbox.put([price])
    await asyncio.wait_for(waiting, 1)
    assert outbox.take() == [price]
    outbox.fail(TransientError("gone"))
    await asyncio.wait_for(outbox.wait(), 1)
    assert isinstance(outbox.error, TransientError) and outbox.take() == []


def test_plan_streams_dedupes_trade_streams() -> None:
    from core.adapter import Subscription
    from core.intervals import Interval

    subs = [
        Subscription(Channel.TRADES, NKN),
        Subscription(Channel.PRICE, NKN),
        Subscription(Channel.KLINE, NKN, Interval.H1),
        Subscription(Channel.DEPTH, NKN),
    ]
    plan = plan_streams(subs, {NKN: "NKNUSDT"})
    assert plan.streams == ["nknusdt@trade", "nknusdt@kline_1h", "nknusdt@depth@100ms"]
    assert plan.wanted[NKN] == {Channel.TRADES, Channel.PRICE, Channel.KLINE, Channel.DEPTH}


@given(
    st.lists(st.integers(min_value=1, max_value=13), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=40),
)
def test_shards_respect_capacity_and_mix_symbols(streams_per_symbol: list[int], capacity: int) -> None:
    streams = [f"s{n}@k{k}" for n, count in enumerate(streams_per_symbol) for k in range(count)]
    shards = shard_streams(streams, capacity)
    assert sorted(name for shard in shards for name in shard) == sorted(streams)
    assert all(0 < len(shard) <= capacity for shard in shards)
    if max(streams_per_symbol) <= capacity:  # a symbol's streams share one connection
        homes = {name.split("@")[0]: n for n, shard in enumerate(shards) for name in shard}
        assert all(homes[name.split("@")[0]] == n for n, shard in enumerate(shards) for name in shard)


def test_busy_symbols_are_dealt_over_every_connection() -> None:
    """Symbols come most active first (the venue's order, or by volume): the first ones must not all
    land on the first connection."""
    kinds = ("trade", "bookTicker", "depth@100ms", "ticker")
    streams = [f"s{n}@{kind}" for n in range(1000) for kind in kinds]
    shards = shard_streams(streams, 1024)
    assert len(shards) == 4
    busiest = {f"s{n}" for n in range(100)}
    per_shard = [len({name.split("@")[0] for name in shard} & busiest) for shard in shards]
    assert per_shard == [25, 25, 25, 25]


@given(
    st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=40),
    st.integers(min_value=12, max_value=60),
)
def test_subscription_shards_follow_the_stream_shards(klines_per_symbol: list[int], capacity: int) -> None:
    """Each subscription lands, with the rest of its symbol's, on the shard its streams ride on."""
    from core.adapter import Subscription
    from core.intervals import ALL_INTERVALS

    natives = {f"S{n}/USDT": f"S{n}USDT" for n in range(len(klines_per_symbol))}
    subs = [
        sub
        for (symbol, _), count in zip(natives.items(), klines_per_symbol, strict=True)
        for sub in (
            Subscription(Channel.QUOTE, symbol),
            Subscription(Channel.TRADES, symbol),
            Subscription(Channel.PRICE, symbol),
            *(Subscription(Channel.KLINE, symbol, i) for i in ALL_INTERVALS[:count]),
        )
    ]
    shards = shard_subscriptions(subs, natives, capacity)
    assert sorted(sub for shard in shards for sub in shard) == sorted(subs)
    expected = shard_streams(plan_streams(subs, natives).streams, capacity)
    assert [plan_streams(shard, natives).streams for shard in shards] == expected


async def test_gap_resyncs_only_that_symbol(parser: BinanceParser, binance_fixture: Load) -> None:
    frames = binance_fixture("ws_depthUpdate_NKNUSDT_sequence_combined")
    body = binance_fixture("rest_depth_NKNUSDT_limit1000")
    snap = parser.depth_snapshot(body, NKN)
    late = parser.depth_snapshot({**body, "lastUpdateId": frames[30]["data"]["u"]}, NKN)
    s = Session(parser, {NKN: [snap, late], BNB: [snap]})
    for i, frame in enumerate(frames[:40]):
        if i != 20:  # NKN loses one event; BNB (the same recording renamed) loses none
            await s.feed(frame)
        await s.feed(renamed(frame, "BNBUSDT"))
    records = s.drain()
    assert s.stats.resyncs == {NKN: 1}
    assert s.stats.snapshots == {NKN: 2, BNB: 1}
    books = [r for r in records if isinstance(r, OrderBook)]
    bnb = [b.sequence for b in books if b.symbol == BNB]
    nkn = [b.sequence for b in books if b.symbol == NKN]
    assert bnb == [snap.last_update_id] + [f["data"]["u"] for f in frames[1:40]]
    assert frames[20]["data"]["u"] not in nkn
    assert nkn[-1] == frames[39]["data"]["u"]
    assert all(len(b.bids) == 5 for b in books)


async def test_during_a_hand_over_an_event_ahead_waits_for_the_other_connection(
    parser: BinanceParser, binance_fixture: Load
) -> None:
    """The new connection delivers a depth event before the old one has delivered the event before
    it: the book waits for that one instead of resyncing. Once the hand-over is over, a missing
    event is a gap again."""
    frames = binance_fixture("ws_depthUpdate_NKNUSDT_sequence_combined")
    body = binance_fixture("rest_depth_NKNUSDT_limit1000")
    snap = parser.depth_snapshot(body, NKN)
    late = parser.depth_snapshot({**body, "lastUpdateId": frames[24]["data"]["u"]}, NKN)
    s = Session(parser, {NKN: [snap, late]})
    for frame in frames[:20]:
        await s.feed(frame)
    s.session.handovers = 1
    for frame in (frames[21], frames[20], frames[21], frames[22]):  # new, old, old, new
        await s.feed(frame)
    assert s.stats.resyncs == {}
    s.session.handovers = 0
    await s.feed(frames[24])  # frames[23] was only on the closed connection
    assert s.stats.resyncs == {NKN: 1}
    books = [r.sequence for r in s.drain() if isinstance(r, OrderBook)]
    u = [f["data"]["u"] for f in frames]
    assert books[:21] == [snap.last_update_id, *u[1:20], u[21]]  # u[20] and u[21] in one book
    assert books[21:] == [u[22], late.last_update_id]


class DenseVenue:
    """A venue whose NKN/USDT book is 30 one-unit levels a side, with snapshots cut to the depth
    asked, driving a :class:`StreamSession` (depth 2 served) with diffs that eat the best bid."""

    def __init__(self, parser: BinanceParser, snapshot_limits: tuple[int, ...]) -> None:
        self.bids = {Decimal(100 - n): Decimal(1) for n in range(30)}
        self.asks = {Decimal(101 + n): Decimal(1) for n in range(30)}
        self.asked: list[tuple[int, bool]] = []
        self.update_id = 1
        self.clock = ManualClock()
        self.stats = StreamStats()
        self.learned: dict[str, int] = {}
        self.parser, self.snapshot_limits = parser, snapshot_limits
        self.session = self.connect()

    def connect(self) -> StreamSession:
        """A new session (as after a reconnect) of the same adapter."""
        session = StreamSession(
            base_url="ws://127.0.0.1:9", parser=self.parser, fetch_snapshot=self.fetch, depth_levels=2,
            clock=self.clock, stats=self.stats, snapshot_limits=self.snapshot_limits,
            learned_limits=self.learned,
        )  # fmt: skip
        session._wanted = {NKN: frozenset(Channel)}
        return session

    async def fetch(self, symbol: str, limit: int, urgent: bool) -> DepthSnapshot:
        self.asked.append((limit, urgent))
        return DepthSnapshot(self.update_id, self.best_bids()[:limit], sorted(self.asks.items())[:limit])

    def best_bids(self) -> list[tuple[Decimal, Decimal]]:
        return sorted(self.bids.items(), reverse=True)

    async def eat_best_bid(self, seconds: float) -> None:
        """``seconds`` later, a diff removes the best bid."""
        self.update_id += 1
        self.clock.t += seconds
        best = max(self.bids)
        del self.bids[best]
        data = {"e": "depthUpdate", "E": self.update_id, "s": "NKNUSDT", "U": self.update_id,
                "u": self.update_id, "b": [[str(best), "0"]], "a": []}  # fmt: skip
        self.session._on_frame(orjson.dumps({"stream": "nknusdt@depth@100ms", "data": data}), 1)
        for _ in range(3):
            await asyncio.sleep(0)  # let a snapshot task run

    def books(self) -> list[OrderBook]:
        return [r for r in self.session.outbox.take() if isinstance(r, OrderBook)]


async def test_a_book_nearing_its_snapshots_edge_is_refreshed_deeper(parser: BinanceParser) -> None:
    """When the market eats into the first snapshot's depth, the book is refreshed with a deeper
    one while it is served, and every stored book is the venue's best levels."""
    venue = DenseVenue(parser, (5, 10, 20))
    for _ in range(12):
        await venue.eat_best_bid(seconds=REFRESH_EVERY_S)
    books = venue.books()
    # the first sync (urgent: no book to serve yet), then a refresh for each size (the book is served)
    assert venue.asked == [(5, True), (10, False), (20, False)]
    assert len(books) == 1 + 11 + 2  # the first sync, each later diff, each refresh that landed
    assert venue.stats.refreshes == {NKN: 2} and venue.stats.resyncs == {}
    assert books[-1].sequence == venue.update_id
    assert books[-1].bids == venue.best_bids()[:2]
    for book in books:
        assert len(book.bids) == 2  # refreshed before the served top reached the edge
        assert book.asks == sorted(venue.asks.items())[:2]
    # after a reconnect (a new session of the same adapter) the symbol starts at the depth it reached
    assert venue.learned == {NKN: 20}
    venue.session = venue.connect()
    await venue.eat_best_bid(seconds=1)
    assert venue.asked[-1] == (20, True)


async def test_refreshes_at_the_deepest_size_are_spaced_and_the_book_served_as_known(
    parser: BinanceParser,
) -> None:
    """A market that runs through a 5-level snapshot (the deepest allowed here) every 0.4 s gets one
    refresh per REFRESH_EVERY_S. In between the book is served shallower, never with a level
    missing, and not at all while the side has no level it knows."""
    venue = DenseVenue(parser, (5,))
    for _ in range(20):  # 2 s
        await venue.eat_best_bid(seconds=0.1)
    assert venue.stats.refreshes == {NKN: 1} and len(venue.asked) == 2
    books = venue.books()
    assert all(0 < len(book.bids) <= 2 for book in books)
    assert min(len(book.bids) for book in books) == 1
    assert len(books) < 20  # the diffs that left no known bid stored nothing
    assert (books[-1].sequence or 0) < venue.update_id


def test_books_stepping_up_are_logged_once_then_summed_up_a_minute_later(
    parser: BinanceParser, caplog: pytest.LogCaptureFixture
) -> None:
    """A busy start-up steps hundreds of books up to deeper snapshots: the first is said at INFO,
    the next ones at DEBUG only, and the next INFO line a minute later counts them all by size."""
    venue = DenseVenue(parser, (100, 500, 1000))
    caplog.set_level("DEBUG", logger="exchanges.binance.streams")
    deepen = venue.session._log_deepening
    deepen("A/USDT", 100, 500)
    for n in range(30):  # within the minute
        venue.clock.t += 1
        deepen(f"S{n}/USDT", 100, 500 if n % 3 else 1000)
    venue.clock.t = DEEPENING_LOG_EVERY_S + 1
    deepen("B/USDT", 500, 1000)
    info = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    debug = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG"]
    assert info == [
        "binance-test: A/USDT: the market moved near the edge of its 100-level snapshot; "
        "refreshing with 500 levels",
        "binance-test: 31 books moved near the edge of their snapshots and refresh with deeper ones "
        "(levels: 20 to 500, 11 to 1000; latest B/USDT); each is logged at DEBUG",
    ]
    assert len(debug) == 32 and "S29/USDT" in debug[-2]
    assert venue.stats.deepened == {}


async def test_malformed_frames_are_counted_and_skipped(parser: BinanceParser, binance_fixture: Load) -> None:
    s = Session(parser, {})
    good = binance_fixture("ws_combined_bookTicker")
    await s.feed(b"{not json")
    await s.feed({"stream": "nknusdt@bookTicker", "data": {**good["data"], "b": None}})
    await s.feed({"stream": "x@trade", "data": {"e": "trade", "s": "NKNUSDT", "E": 1}})
    await s.feed({"result": None, "id": 1})  # SUBSCRIBE ack: not data, not malformed
    await s.feed(good)
    records = s.drain()
    assert [type(r) for r in records] == [Quote]
    assert s.stats.malformed == {"?": 1, "NKNUSDT": 2}
    assert s.stats.frames == 5


async def test_server_shutdown_raises_venue_shutdown(parser: BinanceParser, binance_fixture: Load) -> None:
    """The connection's reader takes it as the sign to open a successor (a transient error elsewhere)."""
    s = Session(parser, {})
    with pytest.raises(VenueShutdownError, match="serverShutdown"):
        await s.feed(binance_fixture("ws_serverShutdown_combined"))
    assert issubclass(VenueShutdownError, TransientError)


async def test_an_older_quote_is_skipped(parser: BinanceParser, binance_fixture: Load) -> None:
    """While a connection is replaced both deliver: a quote older (by its book update id) than one
    already read would take the stored quote back, so it is skipped and counted."""
    s = Session(parser, {})
    frame = binance_fixture("ws_combined_bookTicker")
    update_id = frame["data"]["u"]

    def quote(u: int, bid: str) -> dict[str, Any]:
        return {**frame, "data": {**frame["data"], "u": u, "b": bid}}

    for u, bid in (
        (update_id, "1.1"),
        (update_id + 2, "1.3"),
        (update_id + 1, "1.2"),
        (update_id + 2, "1.3"),
    ):
        await s.feed(quote(u, bid))
    assert [str(r.bid) for r in s.drain()] == ["1.1", "1.3", "1.3"]  # type: ignore[attr-defined]
    assert s.stats.stale == 1


async def test_a_price_from_an_older_trade_is_skipped_but_the_trade_kept(
    parser: BinanceParser, binance_fixture: Load
) -> None:
    s = Session(parser, {})
    frame = binance_fixture("ws_trade")
    trade_id = frame["t"]

    def trade(shift: int, price: str) -> dict[str, Any]:
        return {**frame, "t": trade_id + shift, "p": price}

    for update in (trade(0, "1.0"), trade(2, "1.2"), trade(1, "1.1"), trade(2, "1.2")):
        await s.feed(update)
    records = s.drain()
    assert [int(r.id) for r in records if isinstance(r, Trade)] == [
        trade_id,
        trade_id + 2,
        trade_id + 1,
        trade_id + 2,
    ]
    assert [str(r.price) for r in records if isinstance(r, Price)] == ["1.0", "1.2"]
    assert s.stats.stale == 2


async def test_an_older_kline_update_is_skipped_but_a_final_one_kept(
    parser: BinanceParser, binance_fixture: Load
) -> None:
    """A kline update older than one already read is skipped: an earlier state of the newest candle,
    or a running update of an older candle. An older candle's final update is kept: it may be the
    only one a candle that closed during a connection's replacement gets."""
    s = Session(parser, {})
    frame = binance_fixture("ws_combined_kline")
    open_time, event_time = frame["data"]["k"]["t"], frame["data"]["E"]

    def kline(shift: int, event: int, final: bool) -> dict[str, Any]:
        k = {**frame["data"]["k"], "t": open_time + shift * 60_000, "T": open_time + shift * 60_000 + 59_999}
        return {**frame, "data": {**frame["data"], "E": event_time + event, "k": {**k, "x": final}}}

    feed = [
        kline(0, 0, False),  # kept
        kline(1, 10, False),  # kept: the next candle
        kline(1, 5, False),  # skipped: an earlier state of it
        kline(0, 6, False),  # skipped: the older candle, still running
        kline(0, 7, True),  # kept: the older candle's final update
        kline(1, 10, False),  # kept: the same state again (a duplicate is harmless)
    ]
    for update in feed:
        await s.feed(update)
    kept = [(k.open_time - open_time, k.event_time - event_time) for k in s.drain()]  # type: ignore[attr-defined]
    assert kept == [(0, 0), (60_000, 10), (0, 7), (60_000, 10)]
    assert s.stats.stale == 2


async def test_every_stream_event_type(parser: BinanceParser, binance_fixture: Load) -> None:
    s = Session(parser, {})
    for name in ("ws_ticker", "ws_trade", "ws_combined_aggTrade", "ws_combined_kline"):
        await s.feed(binance_fixture(name))
    channels = [r.channel for r in s.drain()]  # type: ignore[attr-defined]
    assert channels == [
        Channel.TICKER,
        Channel.TRADES,
        Channel.PRICE,
        Channel.TRADES,
        Channel.PRICE,
        Channel.KLINE,
    ]


async def test_snapshots_go_a_few_at_a_time(parser: BinanceParser, binance_fixture: Load) -> None:
    """At start-up every book wants a snapshot: they go out at most the gate's concurrency at once."""
    frame = binance_fixture("ws_depthUpdate_NKNUSDT_sequence_combined")[0]
    snapshot = parser.depth_snapshot(binance_fixture("rest_depth_NKNUSDT_limit1000"), NKN)
    natives = {"NKNUSDT": NKN, "BNBUSDT": BNB, "BNBBTC": "BNB/BTC"}
    in_flight, peak, fetched = 0, 0, []

    async def slow_fetch(symbol: str, limit: int, urgent: bool) -> DepthSnapshot:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        fetched.append(symbol)
        return snapshot

    gate = SnapshotGate(2)  # shared by every session (shard) of an adapter
    kw: dict[str, Any] = {"base_url": "ws://127.0.0.1:9", "depth_levels": 5, "clock": SYSTEM_CLOCK}
    sessions = [
        StreamSession(parser=parser, fetch_snapshot=slow_fetch, stats=StreamStats(), snapshot_gate=gate, **kw)
        for _ in range(2)
    ]
    for n, (native, symbol) in enumerate(natives.items()):  # two books on one shard, one on the other
        session = sessions[n % 2]
        session._wanted = {**session._wanted, symbol: frozenset(Channel)}
        session._on_frame(orjson.dumps(renamed(frame, native)), 1)
    tasks = [task for session in sessions for task in session._snapshot_tasks.values()]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert sorted(fetched) == sorted(natives.values())
    assert peak == 2


@pytest.mark.parametrize(
    ("served", "deepest", "expected"),
    [
        (20, 1_000, 40),  # twice the served levels
        (20, 5_000, 40),
        (1_000, 5_000, 2_000),
        (3_000, 5_000, 3_000),  # twice is beyond what the deepest snapshot holds: when the served reach it
        (400, 500, 400),
    ],
)
def test_a_book_is_refreshed_before_its_served_levels_reach_the_edge(
    served: int, deepest: int, expected: int
) -> None:
    assert refresh_levels(served, deepest) == expected
