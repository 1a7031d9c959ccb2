"""A deterministic simulated spot market that venue front-ends (Binance, HTX, …) put a wire protocol on.

The engine is exchange-neutral and imports only :mod:`core`. A front-end:

1. builds ``engine = MarketEngine(seed=…, symbols=…, utc_offset_ms=…)`` (HTX aligns daily candles to
   UTC+8: ``utc_offset_ms=8 * 3_600_000``);
2. reads the universe from ``engine.markets`` (neutral id ``BASEQUOTE`` → :class:`MarketState`, whose
   ``spec`` is a :class:`MarketSpec` with base, quote, status, tick, step, min notional, precisions);
3. serves REST from the state: ``engine.snapshot(symbol, limit)`` (book + ``lastUpdateId``),
   ``market.trades`` (recent fills), ``engine.klines(symbol, interval, start_ms=, end_ms=, limit=)``
   (synthetic history + live candles, aligned with :meth:`core.intervals.Interval.open_time`),
   ``engine.stats(market)`` (rolling 24h), ``engine.avg_price(market)``;
4. subclasses :class:`MarketListener` and ``engine.add_listener(it)`` to build streams from events:
   ``on_trades`` (fills of one taker order), ``on_depth`` (:class:`DepthDiff` with ``first_id``/``last_id``
   contiguous with the snapshot's update id), ``on_candles``, ``on_ticker``, ``on_best``, and
   ``on_batch`` (flush point after each batch of steps);
5. runs ``await engine.run()`` (real-market pace, ``rate`` steps/s) or ``engine.run(firehose=True)``
   (as fast as possible in bounded batches; ``engine.add_throttle(coro)`` applies backpressure).

All prices and amounts are ints in units of ``10**-8`` (:mod:`core.sim.units` renders them exactly).
Prices derive from per-asset USD values, so currency triangles are consistent; use
``engine.inject_mispricing(symbol, bps, at_ms)`` to break one on purpose. Tests drive the engine
without a loop: ``engine.step(count, now_ms)`` is deterministic for a seed.
"""

from core.sim.book import BookSnapshot, Level, OrderBook
from core.sim.candles import Candle, Stats
from core.sim.engine import DepthDiff, MarketEngine, MarketListener, MarketState, Trade
from core.sim.units import UNIT, fmt
from core.sim.universe import MarketSpec

__all__ = [
    "UNIT",
    "BookSnapshot",
    "Candle",
    "DepthDiff",
    "Level",
    "MarketEngine",
    "MarketListener",
    "MarketSpec",
    "MarketState",
    "OrderBook",
    "Stats",
    "Trade",
    "fmt",
]
