"""The market engine: random-walk asset values, order books, trades, candles and listeners."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from mypy_extensions import mypyc_attr

from core.clock import SYSTEM_CLOCK, Clock
from core.intervals import ALL_INTERVALS, Interval
from core.sim.book import BookSnapshot, Level, OrderBook
from core.sim.candles import Candle, History, RollingWindow, Stats, follow
from core.sim.units import UNIT
from core.sim.universe import STABLE, MarketSpec, build_universe

log = logging.getLogger(__name__)

WALK_SCALE = 1_000_000_000
"""Asset values move by about ``uniform(-walk, walk) / WALK_SCALE`` per step of one of their markets."""
M1 = Interval.M1
LONGER: tuple[Interval, ...] = tuple(i for i in ALL_INTERVALS if i is not Interval.M1)
RECENT_TRADES = 1000
"""Trades kept per market for REST ``trades`` / ``aggTrades`` (Binance serves up to 1000)."""


class Trade(NamedTuple):
    """One fill: the taker hit one book level. ``buyer_maker`` is true for a taker sell.

    A named tuple: built once per fill on the hot path, where a frozen dataclass costs 4x more.
    """

    trade_id: int
    agg_id: int
    price: int
    qty: int
    quote_qty: int
    time_ms: int
    buyer_maker: bool


class DepthDiff(NamedTuple):
    """Changed levels (final quantity, 0 = removed) covering update ids ``first_id..last_id``."""

    first_id: int
    last_id: int
    bids: list[Level]
    asks: list[Level]
    time_ms: int


class MarketState:
    """Everything the engine knows about one market; front-ends read it, only the engine writes."""

    __slots__ = (
        "book",
        "candles",
        "closed",
        "first_trade_id",
        "history",
        "index",
        "last_trade",
        "next_agg_id",
        "next_trade_id",
        "pending_skew",
        "skew_bps",
        "spec",
        "start_price",
        "trades",
        "update_id",
        "window",
    )

    def __init__(self, index: int, spec: MarketSpec) -> None:
        self.index = index
        self.spec = spec
        self.book = OrderBook()
        self.update_id = 0
        self.first_trade_id = self.next_trade_id = self.next_agg_id = 0
        self.candles: dict[Interval, Candle] = {}
        """The open candle per interval. Only the 1m one takes every trade; a longer one holds the
        closed minutes of its span (the engine folds each minute in when it closes), so read it
        through :meth:`MarketEngine.candle`, which adds the open minute."""
        self.closed: dict[Interval, deque[Candle]] = {}
        self.history: dict[Interval, History] = {}
        self.trades: deque[Trade] = deque(maxlen=RECENT_TRADES)
        self.last_trade: Trade | None = None
        self.window: RollingWindow | None = None
        self.start_price = 0
        self.skew_bps = 0
        self.pending_skew: tuple[int, int] | None = None  # (at_ms, bps)

    @property
    def symbol(self) -> str:
        """The venue-neutral id ``BASEQUOTE``."""
        return self.spec.symbol


@mypyc_attr(allow_interpreted_subclasses=True)  # the HTX hub and tests subclass it in plain Python
class MarketListener:
    """Receives engine events; subclass and override what you need (every method is a no-op).

    Events arrive synchronously inside :meth:`MarketEngine.step`, after the market state was updated,
    so a listener may read ``market`` freely but must not block; encode and buffer, then write in
    :meth:`on_batch`, which is called once after every batch of steps.
    """

    def on_trades(self, market: MarketState, trades: Sequence[Trade]) -> None:
        """One taker order filled against one or more levels (one :class:`Trade` per level)."""

    def on_depth(self, market: MarketState, diff: DepthDiff) -> None:
        """The book changed; ``diff.first_id`` is the previous ``update_id + 1``."""

    def on_candles(self, market: MarketState, closed: Sequence[Candle], time_ms: int) -> None:
        """Candles changed: ``closed`` just finished; ``market.candles`` holds the open ones."""

    def on_ticker(self, market: MarketState, time_ms: int) -> None:
        """The 24h statistics changed (after every trade)."""

    def on_best(self, market: MarketState, time_ms: int) -> None:
        """The best bid or ask (price or quantity) changed."""

    def on_batch(self, time_ms: int) -> None:
        """A batch of steps ended: flush buffered output here."""


Throttle = Callable[[], Awaitable[None]]
"""An awaitable the firehose loop awaits after each batch, e.g. until client buffers drained."""


class MarketEngine:
    """A deterministic simulated spot market over a universe of symbols.

    For a given ``seed`` and the same sequence of ``step(count, now_ms)`` calls, the markets, books,
    trades, ids and candles are identical. Only :class:`random.Random` instances owned by the engine
    are used, never the global RNG.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        symbols: int = 50,
        utc_offset_ms: int = 0,
        clock: Clock = SYSTEM_CLOCK,
        start_ms: int | None = None,
        levels: int = 150,
        history: int = 1000,
        history_floor_ms: int = 0,
        rate: float = 200.0,
        trade_share: float = 0.35,
        walk: int = 20_000,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.utc_offset_ms = utc_offset_ms
        self.levels = levels
        self.history_limit = history
        self.history_floor_ms = history_floor_ms
        self.rate = rate
        self.trade_share = trade_share
        self.walk = walk
        self.start_ms = clock.now_ms() if start_ms is None else start_ms
        self._rng = random.Random(seed)
        specs, values = build_universe(symbols, self._rng)
        self.values: dict[str, int] = values
        self.anchors: dict[str, int] = dict(values)
        self.markets: dict[str, MarketState] = {}
        self._active: list[MarketState] = []
        weights: list[float] = []
        for index, spec in enumerate(specs):
            market = MarketState(index, spec)
            self._init_market(market)
            self.markets[spec.symbol] = market
            if spec.trading:
                self._active.append(market)
                weights.append(spec.activity)
        self._cum_weights = list(itertools.accumulate(weights))
        self._listeners: list[MarketListener] = []
        self._throttles: list[Throttle] = []
        self.steps = 0
        self.last_step_ms = self.start_ms

    # ---- set-up ---------------------------------------------------------------------------------
    def _init_market(self, market: MarketState) -> None:
        rng, spec = self._rng, market.spec
        market.update_id = rng.randint(10**8, 10**10)
        market.first_trade_id = market.next_trade_id = rng.randint(10**6, 10**9)
        market.next_agg_id = rng.randint(10**6, market.first_trade_id)
        fair = self.fair_price(market)
        market.start_price = fair // spec.tick * spec.tick or spec.tick
        for interval in ALL_INTERVALS:
            open_time = interval.open_time(self.start_ms, self.utc_offset_ms)
            next_open = interval.next_open_time(open_time, self.utc_offset_ms)
            market.candles[interval] = Candle(interval, open_time, next_open, market.start_price)
            market.closed[interval] = deque(maxlen=self.history_limit)
            market.history[interval] = History(
                seed=f"{self.seed}/{spec.symbol}/{interval.value}",
                interval=interval,
                first_open=open_time,
                price=market.start_price,
                tick=spec.tick,
                trade_qty=self._typical_qty(market, market.start_price),
                activity=spec.activity,
                utc_offset_ms=self.utc_offset_ms,
                floor_ms=self.history_floor_ms,
            )
        hourly = market.history[Interval.H1].ensure(24)[:24]
        market.window = RollingWindow(list(reversed(hourly)))
        self._fill_book(market, fair)
        market.book.take_changes()

    def _fill_book(self, market: MarketState, fair: int) -> None:
        rng, spec, book = self._rng, market.spec, market.book
        bid_edge, ask_edge = self._edges(market, fair)
        price = bid_edge
        for _ in range(self.levels):
            book.set_bid(price, self._level_qty(market))
            price -= spec.tick * rng.randint(1, 3)
            if price <= 0:
                break
        price = ask_edge
        for _ in range(self.levels):
            book.set_ask(price, self._level_qty(market))
            price += spec.tick * rng.randint(1, 3)

    # ---- prices ---------------------------------------------------------------------------------
    def fair_price(self, market: MarketState) -> int:
        """``usd(base) / usd(quote)`` in price units, times the injected skew."""
        spec = market.spec
        price = self.values[spec.base] * UNIT // self.values[spec.quote]
        if market.skew_bps:
            price = price * (10_000 + market.skew_bps) // 10_000
        return max(price, spec.tick)

    def _edges(self, market: MarketState, fair: int) -> tuple[int, int]:
        tick = market.spec.tick
        half = max(tick, fair // 40_000)  # half-spread: 0.25 bp or one tick
        bid = max(tick, (fair - half) // tick * tick)
        ask = -(-(fair + half) // tick) * tick
        if ask <= bid:
            ask = bid + tick
        return bid, ask

    @staticmethod
    def _typical_qty(market: MarketState, price: int) -> int:
        spec = market.spec
        return spec.step * max(1, spec.min_notional * UNIT // max(1, price) // spec.step) * 15

    def _level_qty(self, market: MarketState) -> int:
        spec = market.spec
        base_steps = max(1, spec.min_notional * UNIT // max(1, self._mid(market)) // spec.step)
        return spec.step * base_steps * self._rng.randint(1, 60)

    def _mid(self, market: MarketState) -> int:
        book = market.book
        bid, ask = book.best_bid, book.best_ask
        if bid and ask:
            return (bid[0] + ask[0]) // 2
        return market.start_price or market.spec.tick

    # ---- listeners ------------------------------------------------------------------------------
    def add_listener(self, listener: MarketListener) -> None:
        """Start delivering events to ``listener``."""
        self._listeners.append(listener)

    def remove_listener(self, listener: MarketListener) -> None:
        """Stop delivering events to ``listener`` (no error when it was not added)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def add_throttle(self, throttle: Throttle) -> None:
        """Make the firehose loop await ``throttle()`` after every batch (backpressure)."""
        self._throttles.append(throttle)

    def remove_throttle(self, throttle: Throttle) -> None:
        """Undo :meth:`add_throttle`."""
        if throttle in self._throttles:
            self._throttles.remove(throttle)

    # ---- reading --------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketState:
        """The market with neutral id ``symbol`` (``BTCUSDT``); ``KeyError`` when unknown."""
        return self.markets[symbol]

    def snapshot(self, symbol: str, limit: int) -> BookSnapshot:
        """The best ``limit`` levels per side and the update id they are current at."""
        market = self.markets[symbol]
        return market.book.snapshot(market.update_id, limit)

    def candle(self, market: MarketState, interval: Interval, now_ms: int) -> Candle:
        """The open candle of ``interval`` at ``now_ms`` (rolled forward when time passed)."""
        minute = market.candles[M1]
        if now_ms >= minute.next_open:
            self._roll(market, now_ms)
            minute = market.candles[M1]
        if interval is M1:
            return minute
        return market.candles[interval].with_part(minute)

    def klines(
        self,
        symbol: str,
        interval: Interval,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
        now_ms: int | None = None,
    ) -> list[Candle]:
        """Candles oldest first, as Binance selects them: from ``start_ms`` forward, else back from
        ``end_ms`` (or now); history is generated on demand (at most ``history`` candles back)."""
        market = self.markets[symbol]
        now = self.clock.now_ms() if now_ms is None else now_ms
        current = self.candle(market, interval, now)
        live = [*market.closed[interval], current]
        history = market.history[interval]
        first_live = live[0].open_time
        if start_ms is not None and start_ms < first_live:
            past = history.reaching(start_ms, self.history_limit)
        elif start_ms is None and (wanted := limit - len(live) + self._skip(live, end_ms)) > 0:
            # back from end_ms (or now): live candles after end_ms do not count towards the limit
            past = history.ensure(min(self.history_limit, wanted))
        else:
            past = []
        every = [*reversed(past[: self.history_limit]), *live]
        if start_ms is not None:
            lo = bisect.bisect_left([c.open_time for c in every], start_ms)
            chosen = [c for c in every[lo:] if end_ms is None or c.open_time <= end_ms]
            return chosen[:limit]
        if end_ms is not None:
            every = [c for c in every if c.open_time <= end_ms]
        return every[-limit:] if limit > 0 else []

    @staticmethod
    def _skip(live: list[Candle], end_ms: int | None) -> int:
        if end_ms is None:
            return 0
        return sum(1 for c in live if c.open_time > end_ms)

    def stats(self, market: MarketState, now_ms: int | None = None) -> Stats:
        """Rolling 24h statistics at ``now_ms``."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        current = self.candle(market, Interval.M1, now)
        last_qty = market.last_trade.qty if market.last_trade else 0
        assert market.window is not None
        return market.window.stats(current, last_qty, market.first_trade_id, now)

    def avg_price(self, market: MarketState, minutes: int = 5, now_ms: int | None = None) -> int:
        """Volume-weighted price of the last ``minutes`` minutes (the last price when nothing traded)."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        current = self.candle(market, Interval.M1, now)
        recent = [*list(market.closed[Interval.M1])[-(minutes - 1) :], current] if minutes > 1 else [current]
        volume = sum(c.volume for c in recent)
        quote = sum(c.quote_volume for c in recent)
        return quote * UNIT // volume if volume else current.close

    # ---- faults for tests -----------------------------------------------------------------------
    def inject_mispricing(self, symbol: str, bps: int, at_ms: int | None = None) -> None:
        """Shift ``symbol``'s price by ``bps`` against its cross rates from ``at_ms`` (now when None).

        ``bps == 0`` restores consistency. The book follows at the market's next steps.
        """
        market = self.markets[symbol]
        if at_ms is None or at_ms <= self.last_step_ms:
            market.skew_bps = bps
            market.pending_skew = None
        else:
            market.pending_skew = (at_ms, bps)

    # ---- driving --------------------------------------------------------------------------------
    def step(self, count: int = 1, now_ms: int | None = None) -> None:
        """Apply ``count`` random market events at time ``now_ms`` (the clock when None), then
        call every listener's :meth:`~MarketListener.on_batch`."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        self.last_step_ms = now
        active, cum = self._active, self._cum_weights
        if not active:
            return
        total = cum[-1]
        rnd = self._rng.random
        values, anchors = self.values, self.anchors
        walk, walk_span = self.walk, 2 * self.walk + 1
        trade_share = self.trade_share
        listeners = self._listeners
        for _ in range(count):
            market = active[bisect.bisect_left(cum, rnd() * total)]
            pending = market.pending_skew
            if pending is not None and pending[0] <= now:
                market.skew_bps, market.pending_skew = pending[1], None
            spec = market.spec
            base = spec.base
            if base not in STABLE:  # the random walk of the base asset (see _walk)
                value = values[base]
                move = int(rnd() * walk_span) - walk + (1 if value < anchors[base] else -1)
                values[base] = value * (WALK_SCALE + move) // WALK_SCALE
            fair = values[base] * UNIT // values[spec.quote]
            if market.skew_bps:
                fair = fair * (10_000 + market.skew_bps) // 10_000
            tick = spec.tick
            fair = max(fair, tick)
            book = market.book
            before = book.top()
            bid, ask = before[0], before[2]
            mid = (bid + ask) // 2 if bid and ask else market.start_price or tick
            base_qty = spec.step * max(1, spec.min_notional * UNIT // max(1, mid) // spec.step)
            if rnd() < trade_share:
                self._trade(market, fair, mid, base_qty, now)
            else:
                self._requote(market, fair, base_qty)
            if book.bid_changes or book.ask_changes:
                self._publish_depth(market, now)
            if listeners and book.top() != before:
                for listener in listeners:
                    listener.on_best(market, now)
        self.steps += count
        for listener in listeners:
            listener.on_batch(now)

    def _requote(self, market: MarketState, fair: int, base_qty: int) -> None:
        """Move the inside quotes to the fair price and touch a few levels; one random draw each."""
        rnd = self._rng.random
        book = market.book
        tick = market.spec.tick
        bid_edge, ask_edge = self._edges(market, fair)
        bid_prices, ask_prices = book.bid_prices, book.ask_prices
        if bid_prices and bid_prices[-1] > bid_edge:
            book.pop_bids_above(bid_edge + 1)
        if ask_prices and ask_prices[0] < ask_edge:
            book.pop_asks_below(ask_edge - 1)
        if not bid_prices or bid_prices[-1] < bid_edge - 2 * tick:
            book.set_bid(bid_edge, base_qty * (1 + int(rnd() * 60)))
        if not ask_prices or ask_prices[0] > ask_edge + 2 * tick:
            book.set_ask(ask_edge, base_qty * (1 + int(rnd() * 60)))
        for _ in range(1 + int(rnd() * 3)):
            offset = tick * int(-math.log(1.0 - rnd()) / 0.15)  # exponential, mean ~6.7 ticks
            qty = 0 if rnd() < 0.25 else base_qty * (1 + int(rnd() * 60))
            if rnd() < 0.5:
                price = bid_edge - offset
                if price > 0 and (qty or len(bid_prices) > 1):
                    book.set_bid(price, qty)
            else:
                price = ask_edge + offset
                if qty or len(ask_prices) > 1:
                    book.set_ask(price, qty)
        levels = self.levels
        if len(bid_prices) < levels and bid_prices:
            low = bid_prices[0] - tick * (1 + int(rnd() * 3))
            if low > 0:
                book.set_bid(low, base_qty * (1 + int(rnd() * 60)))
        if len(ask_prices) < levels and ask_prices:
            book.set_ask(ask_prices[-1] + tick * (1 + int(rnd() * 3)), base_qty * (1 + int(rnd() * 60)))
        if len(bid_prices) > levels + 10 or len(ask_prices) > levels + 10:
            book.trim(levels + 10)

    def _trade(self, market: MarketState, fair: int, mid: int, base_qty: int, now: int) -> None:
        rnd = self._rng.random
        spec, book = market.spec, market.book
        step = spec.step
        taker_buy = rnd() < (0.7 if fair > mid else 0.3 if fair < mid else 0.5)
        wanted = base_qty * (1 + int(rnd() * 60)) * (1 + int(rnd() * 3)) // 2 // step * step or step
        fills: list[Trade] = []
        trade_id = market.next_trade_id
        agg_id = market.next_agg_id
        prices, side = (book.ask_prices, book.asks) if taker_buy else (book.bid_prices, book.bids)
        for _ in range(3):
            if not prices or wanted <= 0:
                break
            price = prices[0] if taker_buy else prices[-1]
            available = side[price]
            qty = min(wanted, available)
            if taker_buy:
                book.set_ask(price, available - qty)
            else:
                book.set_bid(price, available - qty)
            fills.append(Trade(trade_id, agg_id, price, qty, price * qty // UNIT, now, not taker_buy))
            trade_id += 1
            agg_id += 1
            wanted -= qty
        if not fills:
            return
        market.next_trade_id = trade_id
        market.next_agg_id = agg_id
        market.trades.extend(fills)
        market.last_trade = fills[-1]
        closed: list[Candle] = []
        minute = market.candles[M1]
        if now >= minute.next_open:
            closed = self._roll_collect(market, now)
            minute = market.candles[M1]
        for fill in fills:
            minute.add(fill.trade_id, fill.price, fill.qty, fill.quote_qty, taker_buy)
        listeners = self._listeners
        for listener in listeners:
            listener.on_trades(market, fills)
        for listener in listeners:
            listener.on_candles(market, closed, now)
        for listener in listeners:
            listener.on_ticker(market, now)

    def _roll(self, market: MarketState, now: int) -> None:
        closed = self._roll_collect(market, now)
        if closed and self._listeners:
            for listener in self._listeners:
                listener.on_candles(market, closed, now)

    def _roll_collect(self, market: MarketState, now: int) -> list[Candle]:
        """Close the open minute: fold it into the longer candles, then roll every interval to ``now``.

        Every interval boundary is a minute boundary, so the longer candles roll only here; the
        closed candles come interval by interval in :data:`ALL_INTERVALS` order.
        """
        candles = market.candles
        minute = candles[M1]
        for interval in LONGER:
            candles[interval].fold(minute)
        closed: list[Candle] = []
        for interval in ALL_INTERVALS:
            if now < candles[interval].next_open:
                continue
            candle, done = follow(candles[interval], now, self.utc_offset_ms)
            candles[interval] = candle
            market.closed[interval].extend(done)
            if interval is M1 and market.window is not None:
                for bucket in done:
                    market.window.push(bucket)
            closed.extend(done)
        return closed

    def _publish_depth(self, market: MarketState, now: int) -> None:
        bids, asks = market.book.take_changes()
        first = market.update_id + 1
        market.update_id += len(bids) + len(asks)
        diff = DepthDiff(first, market.update_id, bids, asks, now)
        for listener in self._listeners:
            listener.on_depth(market, diff)

    async def run(
        self,
        *,
        firehose: bool = False,
        rate: float | None = None,
        batch: int = 256,
        tick_s: float = 0.01,
    ) -> None:
        """Drive the market until cancelled.

        Paced mode applies ``rate`` steps per second (default ``self.rate``) in ticks of ``tick_s``,
        compensating drift. Firehose mode steps in batches of ``batch`` as fast as the throttles
        allow, yielding to the event loop after every batch.
        """
        if firehose:
            while True:
                self.step(batch)
                for throttle in self._throttles:
                    await throttle()
                await asyncio.sleep(0)
        per_second = self.rate if rate is None else rate
        # a step's events all carry the time it starts, and go out when it ends: a late loop catches
        # up in steps of a few ticks' worth, so no frame leaves with a stale event time (one step of
        # a second's worth took ~0.5 s under load and stamped its frames that far back)
        most = max(1, int(per_second * tick_s * 4))
        clock = self.clock
        started = clock.monotonic()
        done = 0
        ticks = 0
        while True:
            ticks += 1
            target = int((clock.monotonic() - started) * per_second)
            done = max(done, target - int(per_second))  # at most a second behind: the rest is skipped
            due = target - done
            if due > 0:
                count = min(due, most)
                self.step(count)
                done += count
            else:
                for listener in self._listeners:
                    listener.on_batch(clock.now_ms())
            delay = started + ticks * tick_s - clock.monotonic()
            await clock.sleep(max(0.0, delay))
