"""K-lines of the simulated market: live candles built from trades, synthetic history, 24h statistics."""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from core.intervals import DAY_MS, Interval
from core.sim.units import UNIT


class Candle:
    """One K-line in engine units. ``first_id``/``last_id`` are -1 when no trade is known."""

    __slots__ = (
        "close",
        "close_time",
        "first_id",
        "high",
        "interval",
        "last_id",
        "low",
        "next_open",
        "open",
        "open_time",
        "quote_volume",
        "taker_base",
        "taker_quote",
        "trades",
        "volume",
    )

    def __init__(self, interval: Interval, open_time: int, next_open: int, price: int) -> None:
        self.interval = interval
        self.open_time = open_time
        self.next_open = next_open
        self.close_time = next_open - 1
        self.open = self.high = self.low = self.close = price
        self.volume = self.quote_volume = self.taker_base = self.taker_quote = 0
        self.trades = 0
        self.first_id = self.last_id = -1

    def add(self, trade_id: int, price: int, qty: int, quote_qty: int, taker_buy: bool) -> None:
        """Fold one trade into the candle."""
        if self.trades == 0:
            self.open = self.high = self.low = price
            self.first_id = trade_id
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.last_id = trade_id
        self.trades += 1
        self.volume += qty
        self.quote_volume += quote_qty
        if taker_buy:
            self.taker_base += qty
            self.taker_quote += quote_qty

    def fold(self, part: Candle) -> None:
        """Fold in ``part``, a shorter candle inside this one's span whose trades follow this one's."""
        if not part.trades:
            return
        if self.trades == 0:
            self.open, self.high, self.low = part.open, part.high, part.low
            self.first_id = part.first_id
        else:
            self.high = max(self.high, part.high)
            self.low = min(self.low, part.low)
        self.close = part.close
        self.last_id = part.last_id
        self.trades += part.trades
        self.volume += part.volume
        self.quote_volume += part.quote_volume
        self.taker_base += part.taker_base
        self.taker_quote += part.taker_quote

    def with_part(self, part: Candle) -> Candle:
        """A copy of this candle with ``part`` folded in (this one is left unchanged)."""
        copy = Candle(self.interval, self.open_time, self.next_open, self.close)
        copy.open, copy.high, copy.low = self.open, self.high, self.low
        copy.volume, copy.quote_volume = self.volume, self.quote_volume
        copy.taker_base, copy.taker_quote = self.taker_base, self.taker_quote
        copy.trades, copy.first_id, copy.last_id = self.trades, self.first_id, self.last_id
        copy.fold(part)
        return copy

    def __repr__(self) -> str:
        return (
            f"Candle({self.interval.value} {self.open_time} o={self.open} h={self.high} l={self.low} "
            f"c={self.close} v={self.volume} n={self.trades})"
        )


def follow(candle: Candle, now_ms: int, utc_offset_ms: int) -> tuple[Candle, list[Candle]]:
    """Roll ``candle`` forward to the one containing ``now_ms``: ``(current, closed candles)``.

    Intervals with no trade become flat candles at the previous close, as on Binance. The number of
    closed candles returned is capped at 2000 (older empty ones are not materialized).
    """
    closed: list[Candle] = []
    interval = candle.interval
    while now_ms >= candle.next_open:
        closed.append(candle)
        start = candle.next_open
        if now_ms - start > 2000 * _approx_length(interval):
            start = interval.open_time(now_ms - 2000 * _approx_length(interval), utc_offset_ms)
        candle = Candle(interval, start, interval.next_open_time(start, utc_offset_ms), candle.close)
    return candle, closed[-2000:]


def _approx_length(interval: Interval) -> int:
    return interval.minutes * 60_000


# ---- synthetic history -------------------------------------------------------------------------
class History:
    """Deterministic closed candles before the engine started, generated newest first on demand.

    The newest history candle closes where the live one opens, at the engine's start price; each
    older one closes at the next one's open. Prices stay on the tick grid and ``low <= open, close <=
    high``. Generation stops at ``floor_ms`` (by default the Unix epoch).
    """

    def __init__(
        self,
        *,
        seed: str,
        interval: Interval,
        first_open: int,
        price: int,
        tick: int,
        trade_qty: int,
        activity: float,
        utc_offset_ms: int,
        floor_ms: int,
    ) -> None:
        self._rng = random.Random(seed)
        self._interval = interval
        self._offset = utc_offset_ms
        self._floor = floor_ms
        self._tick = tick
        self._trade_qty = trade_qty
        self._next_close_price = price
        self._next_open = first_open  # open time of the candle after the next one generated
        self._move = 300 * math.isqrt(interval.minutes)  # max move per candle, in 1e-6
        self._trades = max(1, int(activity * 200 * math.sqrt(interval.minutes)))
        self.newest_first: list[Candle] = []

    def ensure(self, count: int) -> list[Candle]:
        """At least ``count`` candles (fewer when the floor is reached), newest first."""
        while len(self.newest_first) < count and self._extend():
            pass
        return self.newest_first

    def reaching(self, open_time: int, cap: int) -> list[Candle]:
        """Generate back to the candle containing ``open_time`` (at most ``cap``), newest first."""
        while (
            len(self.newest_first) < cap
            and (not self.newest_first or self.newest_first[-1].open_time > open_time)
            and self._extend()
        ):
            pass
        return self.newest_first

    def _previous_open(self, open_time: int) -> int:
        if self._interval is Interval.MO1 or self._interval is Interval.W1:
            return self._interval.open_time(open_time - 1, self._offset)
        return open_time - self._interval.minutes * 60_000

    def _extend(self) -> bool:
        open_time = self._previous_open(self._next_open)
        if open_time < self._floor:
            return False
        rng, tick = self._rng, self._tick
        close = self._next_close_price
        move = rng.randint(-self._move, self._move)
        open_ = max(tick, close * (1_000_000 + move) // 1_000_000 // tick * tick)
        wick = max(1, abs(close - open_) // tick // 2 + 1)
        high = max(open_, close) + tick * rng.randint(0, wick)
        low = max(tick, min(open_, close) - tick * rng.randint(0, wick))
        candle = Candle(self._interval, open_time, self._next_open, open_)
        candle.high, candle.low, candle.close = high, low, close
        trades = rng.randint(max(1, self._trades // 2), self._trades * 2)
        volume = self._trade_qty * trades * rng.randint(50, 150) // 100
        candle.trades = trades
        candle.volume = volume
        candle.quote_volume = volume * ((open_ + close) // 2) // UNIT
        share = rng.randint(30, 70)
        candle.taker_base = volume * share // 100
        candle.taker_quote = candle.quote_volume * share // 100
        self.newest_first.append(candle)
        self._next_open = open_time
        self._next_close_price = open_
        return True


# ---- rolling 24h statistics --------------------------------------------------------------------
@dataclass(slots=True)
class Stats:
    """Rolling 24-hour statistics of one market (engine units; ids -1 when no trade)."""

    open_time: int
    close_time: int
    open: int
    high: int
    low: int
    last: int
    last_qty: int
    volume: int
    quote_volume: int
    count: int
    first_id: int
    last_id: int

    @property
    def weighted_avg(self) -> int:
        """Quote volume over volume, in price units (the last price when nothing traded)."""
        return self.quote_volume * UNIT // self.volume if self.volume else self.last

    @property
    def change(self) -> int:
        """Last minus open."""
        return self.last - self.open

    def change_percent(self) -> str:
        """Percent change with 3 decimals, as Binance prints it (``"1.647"``)."""
        if not self.open:
            return "0.000"
        thousandths = (
            self.change * 100_000 // self.open if self.change >= 0 else -(-self.change * 100_000 // self.open)
        )
        sign = "-" if thousandths < 0 else ""
        whole, frac = divmod(abs(thousandths), 1000)
        return f"{sign}{whole}.{frac:03d}"


class RollingWindow:
    """24 hours of closed buckets (1h synthetic ones at start, then live 1m candles) plus running sums."""

    def __init__(self, seed_buckets: list[Candle], window_ms: int = DAY_MS) -> None:
        self._window = window_ms
        self._buckets: deque[Candle] = deque()
        self._volume = self._quote = self._count = 0
        self._extremes: tuple[int, int] | None = None
        self._last_id = -1
        for bucket in seed_buckets:
            self.push(bucket)

    def push(self, bucket: Candle) -> None:
        """Add a closed bucket."""
        self._buckets.append(bucket)
        self._volume += bucket.volume
        self._quote += bucket.quote_volume
        self._count += bucket.trades
        if bucket.last_id >= 0:
            self._last_id = bucket.last_id
        if self._extremes is not None:
            high, low = self._extremes
            self._extremes = (max(high, bucket.high), min(low, bucket.low))

    def _expire(self, now_ms: int) -> None:
        start = now_ms - self._window
        buckets = self._buckets
        while buckets and buckets[0].close_time < start:
            old = buckets.popleft()
            self._volume -= old.volume
            self._quote -= old.quote_volume
            self._count -= old.trades
            self._extremes = None

    def buckets(self) -> Iterator[Candle]:
        """The closed buckets in the window, oldest first."""
        return iter(self._buckets)

    def stats(self, current: Candle, last_qty: int, first_live_id: int, now_ms: int) -> Stats:
        """Statistics over the window ending at ``now_ms``, including the open ``current`` candle."""
        self._expire(now_ms)
        if self._extremes is None:
            traded = [b for b in self._buckets if b.trades]
            self._extremes = (
                max((b.high for b in traded), default=0),
                min((b.low for b in traded), default=0),
            )
        high, low = self._extremes
        first = self._buckets[0] if self._buckets else current
        opened = first.open
        if current.trades:
            high = max(high, current.high) if high else current.high
            low = min(low, current.low) if low else current.low
        if not high:
            high = low = current.close
        count = self._count + current.trades
        # trade ids are contiguous, with synthetic trades numbered just below the first live one
        last_id = self._last_id if current.trades == 0 else current.last_id
        if last_id < 0:
            last_id = first_live_id - 1
        first_id = last_id - count + 1
        if count == 0:
            first_id = last_id = -1
        return Stats(
            open_time=now_ms - self._window,
            close_time=now_ms,
            open=opened,
            high=high,
            low=low,
            last=current.close,
            last_qty=last_qty,
            volume=self._volume + current.volume,
            quote_volume=self._quote + current.quote_volume,
            count=count,
            first_id=first_id,
            last_id=last_id,
        )
