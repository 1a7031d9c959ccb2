"""The simulated market engine: determinism, universe, books, trades, candles, history, listeners."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

import pytest

from core.intervals import ALL_INTERVALS, Interval
from core.sim import Candle, DepthDiff, MarketEngine, MarketListener, MarketState, Trade, fmt
from core.sim.units import UNIT, decimals_of, from_text

START = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC, a Tuesday


class Recorder(MarketListener):
    """Keeps every event as plain tuples."""

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []
        self.diffs: dict[str, list[DepthDiff]] = {}
        self.trades: dict[str, list[Trade]] = {}
        self.closed: list[Candle] = []
        self.batches = 0

    def on_trades(self, market: MarketState, trades: Sequence[Trade]) -> None:
        self.trades.setdefault(market.symbol, []).extend(trades)
        self.events.extend(
            ("trade", market.symbol, t.trade_id, t.price, t.qty, t.buyer_maker) for t in trades
        )

    def on_depth(self, market: MarketState, diff: DepthDiff) -> None:
        self.diffs.setdefault(market.symbol, []).append(diff)
        self.events.append(
            ("depth", market.symbol, diff.first_id, diff.last_id, tuple(diff.bids), tuple(diff.asks))
        )

    def on_candles(self, market: MarketState, closed: Sequence[Candle], time_ms: int) -> None:
        self.closed.extend(closed)

    def on_batch(self, time_ms: int) -> None:
        self.batches += 1


def run(engine: MarketEngine, steps: int, start: int = START, every_ms: int = 10) -> Recorder:
    recorder = Recorder()
    engine.add_listener(recorder)
    for i in range(steps // 100):
        engine.step(100, start + i * every_ms)
    return recorder


def test_same_seed_same_events_different_seed_different_events() -> None:
    a = run(MarketEngine(seed=5, start_ms=START), 2000)
    b = run(MarketEngine(seed=5, start_ms=START), 2000)
    c = run(MarketEngine(seed=6, start_ms=START), 2000)
    assert len(a.events) > 500
    assert a.events == b.events
    assert a.events != c.events


def test_history_is_deterministic_and_independent_of_live_steps() -> None:
    quiet = MarketEngine(seed=9, start_ms=START)
    busy = MarketEngine(seed=9, start_ms=START)
    run(busy, 1000)
    for interval in (Interval.M1, Interval.D1, Interval.MO1):
        past_q = quiet.klines("ETHBTC", interval, end_ms=START - 1, limit=50, now_ms=START)
        past_b = busy.klines("ETHBTC", interval, end_ms=START - 1, limit=50, now_ms=START + 10_000)
        closed_q = [(c.open_time, c.open, c.close, c.volume) for c in past_q if c.close_time < START]
        closed_b = [(c.open_time, c.open, c.close, c.volume) for c in past_b if c.close_time < START]
        assert len(closed_q) == 49
        assert closed_q == closed_b


def test_universe_default_has_triangles_and_metadata() -> None:
    engine = MarketEngine(seed=1, start_ms=START)
    assert len(engine.markets) == 50
    for symbol in ("BTCUSDT", "ETHUSDT", "ETHBTC", "BNBBTC", "BNBETH", "BNBUSDT"):
        assert symbol in engine.markets
    for market in engine.markets.values():
        spec = market.spec
        assert spec.status in {"TRADING", "BREAK"}
        assert spec.tick > 0 and spec.step > 0 and spec.min_notional > 0
        assert spec.price_precision == decimals_of(spec.tick)
        assert market.start_price % spec.tick == 0


def test_universe_scales_to_2000_with_synthetic_assets_and_some_breaks() -> None:
    engine = MarketEngine(seed=1, symbols=2000, start_ms=START)
    assert len(engine.markets) == 2000
    assert any(s.startswith("SYN") for s in engine.markets)
    statuses = [m.spec.status for m in engine.markets.values()]
    assert 0 < statuses.count("BREAK") < 200


def test_cross_rates_are_consistent_until_a_mispricing_is_injected() -> None:
    engine = MarketEngine(seed=3, start_ms=START)
    run(engine, 3000)

    def implied() -> float:  # a ratio for the assertion only; the engine itself never uses floats
        btc = engine.fair_price(engine.market("BTCUSDT"))
        eth = engine.fair_price(engine.market("ETHUSDT"))
        ethbtc = engine.fair_price(engine.market("ETHBTC"))
        return ethbtc * btc / UNIT / eth

    assert abs(implied() - 1) < 0.0002
    engine.inject_mispricing("ETHBTC", 50, at_ms=START + 60_000)
    assert abs(implied() - 1) < 0.0002  # not yet
    engine.step(200, START + 60_000)
    assert abs(implied() - 1.005) < 0.0003
    books = engine.market("ETHBTC").book
    assert books.best_bid is not None
    btc_mid = engine.fair_price(engine.market("BTCUSDT"))
    eth_mid = engine.fair_price(engine.market("ETHUSDT"))
    assert books.best_bid[0] * btc_mid / UNIT / eth_mid > 1.003  # the book followed the skew


def test_book_is_on_the_grid_uncrossed_and_deep() -> None:
    engine = MarketEngine(seed=4, start_ms=START)
    run(engine, 5000)
    for symbol in ("BTCUSDT", "ETHBTC", "BNBETH"):
        market = engine.market(symbol)
        snapshot = engine.snapshot(symbol, 5000)
        assert len(snapshot.bids) >= 100 and len(snapshot.asks) >= 100
        assert snapshot.bids[0][0] < snapshot.asks[0][0]
        assert [p for p, _ in snapshot.bids] == sorted((p for p, _ in snapshot.bids), reverse=True)
        assert [p for p, _ in snapshot.asks] == sorted(p for p, _ in snapshot.asks)
        for price, qty in snapshot.bids + snapshot.asks:
            assert price % market.spec.tick == 0 and qty % market.spec.step == 0 and qty > 0


def test_diffs_replayed_on_a_snapshot_rebuild_the_book() -> None:
    engine = MarketEngine(seed=8, start_ms=START)
    run(engine, 500)
    before = engine.snapshot("BTCUSDT", 10_000)
    bids = dict(before.bids)
    asks = dict(before.asks)
    recorder = run(engine, 3000, start=START + 100_000)
    last = before.last_update_id
    for diff in recorder.diffs["BTCUSDT"]:
        assert diff.first_id == last + 1
        assert diff.last_id >= diff.first_id
        last = diff.last_id
        for side, changes in ((bids, diff.bids), (asks, diff.asks)):
            for price, qty in changes:
                if qty:
                    side[price] = qty
                else:
                    side.pop(price, None)
    after = engine.snapshot("BTCUSDT", 10_000)
    assert after.last_update_id == last
    assert sorted(bids.items(), reverse=True) == after.bids
    assert sorted(asks.items()) == after.asks


def test_trades_take_liquidity_and_ids_increase() -> None:
    engine = MarketEngine(seed=2, start_ms=START)
    recorder = run(engine, 3000)
    trades = recorder.trades["BTCUSDT"]
    assert len(trades) > 50
    ids = [t.trade_id for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert [t.agg_id for t in trades] == sorted({t.agg_id for t in trades})
    for trade in trades:
        assert trade.quote_qty == trade.price * trade.qty // UNIT
    market = engine.market("BTCUSDT")
    assert list(market.trades)[-1] == trades[-1]


def test_candles_are_built_from_the_trades() -> None:
    engine = MarketEngine(seed=2, start_ms=START)
    recorder = run(engine, 6000, every_ms=200)  # 12 s of trades
    now = START + 60 * 200
    trades = recorder.trades["BTCUSDT"]
    for interval in ALL_INTERVALS:
        current = engine.candle(engine.market("BTCUSDT"), interval, now)
        inside = [t for t in trades if t.time_ms >= current.open_time]
        assert current.trades == len(inside)
        assert current.volume == sum(t.qty for t in inside)
        assert current.high == max(t.price for t in inside)
        assert current.low == min(t.price for t in inside)
        assert current.close == inside[-1].price
        assert current.first_id == inside[0].trade_id and current.last_id == inside[-1].trade_id


def test_candles_align_weekly_to_monday_and_monthly_to_the_month() -> None:
    engine = MarketEngine(seed=1, start_ms=START)
    weeks = engine.klines("BTCUSDT", Interval.W1, limit=1000, now_ms=START)
    assert len(weeks) == 1000
    for candle in weeks:
        opened = dt.datetime.fromtimestamp(candle.open_time / 1000, tz=dt.UTC)
        assert opened.weekday() == 0 and opened.hour == 0
        assert candle.close_time == candle.open_time + 7 * 86_400_000 - 1
    months = engine.klines("BTCUSDT", Interval.MO1, limit=1000, now_ms=START)
    assert len(months) > 600
    for candle in months:
        opened = dt.datetime.fromtimestamp(candle.open_time / 1000, tz=dt.UTC)
        assert (opened.day, opened.hour, opened.minute) == (1, 0, 0)
    assert months[-1].open_time == Interval.MO1.open_time(START)


def test_utc_offset_aligns_daily_candles_for_htx() -> None:
    offset = 8 * 3_600_000
    engine = MarketEngine(seed=1, start_ms=START, utc_offset_ms=offset)
    days = engine.klines("BTCUSDT", Interval.D1, limit=10, now_ms=START)
    for candle in days:
        assert (candle.open_time + offset) % 86_400_000 == 0


@pytest.mark.parametrize("interval", ALL_INTERVALS)
def test_history_backfills_consistent_closed_candles(interval: Interval) -> None:
    engine = MarketEngine(seed=11, start_ms=START)
    candles = engine.klines("BNBETH", interval, limit=1000, now_ms=START)
    assert len(candles) >= 600
    tick = engine.market("BNBETH").spec.tick
    for older, newer in itertools.pairwise(candles):
        assert older.next_open == newer.open_time
        assert older.close == newer.open
    for candle in candles[:-1]:
        assert candle.low <= min(candle.open, candle.close) <= max(candle.open, candle.close) <= candle.high
        assert candle.low > 0 and candle.high % tick == 0 and candle.low % tick == 0
        assert candle.volume > 0 and candle.trades > 0
        assert candle.open_time == interval.open_time(candle.open_time)
    start = candles[100].open_time
    page = engine.klines("BNBETH", interval, start_ms=start, limit=5, now_ms=START)
    assert [c.open_time for c in page] == [c.open_time for c in candles[100:105]]


def test_empty_intervals_roll_into_flat_candles() -> None:
    engine = MarketEngine(seed=1, start_ms=START)
    market = engine.market("BTCUSDT")
    first = engine.candle(market, Interval.M1, START)
    later = engine.candle(market, Interval.M1, START + 5 * 60_000)
    closed = list(market.closed[Interval.M1])
    assert later.open_time == Interval.M1.open_time(START + 5 * 60_000)
    assert [c.open_time for c in closed][:1] == [first.open_time]
    assert all(c.open == c.close == c.high == c.low for c in closed)


def test_rolling_24h_stats_cover_history_and_live_trades() -> None:
    engine = MarketEngine(seed=2, start_ms=START)
    recorder = run(engine, 3000)
    market = engine.market("ETHUSDT")
    stats = engine.stats(market, START + 1000)
    trades = recorder.trades["ETHUSDT"]
    assert stats.last == trades[-1].price
    assert stats.last_id == trades[-1].trade_id
    assert stats.count == stats.last_id - stats.first_id + 1
    assert stats.count > len(trades)  # the synthetic past day is included
    assert stats.low <= stats.last <= stats.high
    assert stats.low <= stats.weighted_avg <= stats.high
    assert stats.close_time - stats.open_time == 86_400_000


def test_firehose_runs_bounded_batches_and_honours_throttles() -> None:
    import asyncio

    engine = MarketEngine(seed=1, start_ms=START)
    recorder = Recorder()
    engine.add_listener(recorder)
    throttled = 0

    async def throttle() -> None:
        nonlocal throttled
        throttled += 1

    engine.add_throttle(throttle)

    async def drive() -> None:
        task = asyncio.create_task(engine.run(firehose=True, batch=50))
        while engine.steps < 500:  # noqa: ASYNC110 - polling the engine counter
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(drive())
    assert engine.steps % 50 == 0 and engine.steps >= 500
    assert throttled == recorder.batches == engine.steps // 50


def test_units_render_exactly() -> None:
    assert fmt(123456789) == "1.23456789"
    assert fmt(-5) == "-0.00000005"
    assert from_text("43519.34") == 4_351_934_000_000
    with pytest.raises(ValueError, match="decimal places"):
        from_text("0.000000001")


class _LateClock:
    """A clock whose every sleep lasts ``late`` seconds longer than asked (a loaded machine)."""

    def __init__(self, late: float) -> None:
        self.late = late
        self.t = 0.0

    def now_ms(self) -> int:
        return START + int(self.t * 1000)

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        import asyncio

        self.t += seconds + self.late
        await asyncio.sleep(0)


class StepSizes(MarketListener):
    """The size of every ``step`` the engine ran (``on_batch`` also comes from idle ticks: skipped)."""

    def __init__(self, engine: MarketEngine) -> None:
        self.engine = engine
        self.seen = engine.steps
        self.sizes: list[int] = []

    def on_batch(self, time_ms: int) -> None:
        if self.engine.steps != self.seen:
            self.sizes.append(self.engine.steps - self.seen)
            self.seen = self.engine.steps


def test_a_late_paced_loop_catches_up_in_small_steps_and_never_owes_more_than_a_second() -> None:
    """Every step's events carry the time the step starts: a loop that fell behind must not pack
    a second of events into one step (their frames would leave stamped that far back)."""
    import asyncio

    clock = _LateClock(late=0.5)
    engine = MarketEngine(seed=1, start_ms=START, clock=clock)
    recorder = StepSizes(engine)
    engine.add_listener(recorder)
    sizes = recorder.sizes

    async def drive() -> None:
        task = asyncio.create_task(engine.run(rate=1000, tick_s=0.01))
        while len(sizes) < 20:  # noqa: ASYNC110 - polling the recorder
            await asyncio.sleep(0)
        clock.late = 0.0  # the machine recovers
        while len(sizes) < 100:  # noqa: ASYNC110 - polling the recorder
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(drive())
    assert max(sizes) == 40  # four ticks' worth at 1,000 events/s
    # 20 ticks half a second late put it 10 s behind; only the last second is owed, so it is back
    # to a tick's worth (10 events) within 34 ticks instead of catching up for hundreds
    assert sizes[-10:] == [10] * 10


def test_klines_back_from_an_end_time_reach_history_behind_closed_live_candles() -> None:
    """``endTime`` + ``limit`` selects back from ``endTime`` even when the live candles (several closed
    since the start) outnumber ``limit``: they are all after ``endTime`` and must not hide history."""
    engine = MarketEngine(seed=2, start_ms=START)
    run(engine, 20_000, every_ms=10)  # 200 s of market: several closed 1m candles
    now = START + 200_000
    latest = engine.klines("ETHBTC", Interval.M1, limit=30, now_ms=now)
    opens = [c.open_time for c in latest]
    assert len(opens) == 30 and all(b - a == 60_000 for a, b in itertools.pairwise(opens))
    until = engine.klines("ETHBTC", Interval.M1, end_ms=opens[10], limit=2, now_ms=now)
    assert [c.open_time for c in until] == opens[9:11]
