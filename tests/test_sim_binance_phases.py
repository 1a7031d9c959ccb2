"""The simulated Binance venue spreads its periodic streams (klines, 24hr tickers) over their period."""

from __future__ import annotations

import itertools
from collections import defaultdict

import orjson

from core.intervals import ALL_INTERVALS
from core.sim import MarketEngine
from exchanges.binance.sim.capture import CaptureTransport, payloads
from exchanges.binance.sim.faults import Faults
from exchanges.binance.sim.streams import FLUSH_EVERY_FRAMES, PHASES, Connection, Hub, parse_stream

START_MS = 1_700_000_000_000
KLINE_MS, TICKER_MS = 2000, 1000


def subscribed(engine: MarketEngine, names: list[str]) -> CaptureTransport:
    """A hub on ``engine`` with one combined-stream connection subscribed to ``names``; its writes."""
    hub = Hub(engine, kline_ms=KLINE_MS, ticker_ms=TICKER_MS)
    engine.add_listener(hub)
    capture = CaptureTransport()
    conn = Connection(capture, True, Faults())  # type: ignore[arg-type]
    hub.add(conn)
    hub.subscribe(conn, [s for s in map(parse_stream, names) if s is not None])
    return capture


def streams_per_batch(seconds: float) -> list[tuple[int, list[str]]]:
    """Run 40 markets with every kline and ticker stream subscribed; the stream names of each batch."""
    engine = MarketEngine(seed=3, symbols=40, start_ms=START_MS, rate=2000)
    lower = [m.spec.symbol.lower() for m in engine.markets.values()]
    names = [f"{s}@kline_{i.value}" for s in lower for i in ALL_INTERVALS] + [f"{s}@ticker" for s in lower]
    capture = subscribed(engine, names)
    batches: list[tuple[int, list[str]]] = []
    now = START_MS
    while now < START_MS + seconds * 1000:
        engine.step(20, now)
        names_out = [orjson.loads(p)["stream"] for p in capture.take_payloads()]
        batches.append((now, names_out))
        now += 10
    return batches


def test_klines_and_tickers_leave_in_phases_not_in_one_burst() -> None:
    """40 markets: 320 kline and 40 ticker streams; no batch carries more than a few phases' worth."""
    per_batch = [
        sum(1 for n in names if "@kline_" in n or n.endswith("@ticker")) for _, names in streams_per_batch(8)
    ]
    assert sum(per_batch) > 360  # every stream went out, most of them several times
    assert max(per_batch) <= 360 / PHASES * 2.5, max(per_batch)  # not all at once


def test_each_periodic_stream_keeps_its_period() -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    for at, names in streams_per_batch(seconds=10):
        for name in names:
            if "@kline_" in name or name.endswith("@ticker"):
                seen[name].append(at)
    assert len(seen) > 100
    for name, times in seen.items():
        period = KLINE_MS if "@kline_" in name else TICKER_MS
        # a stream goes out at most once per period, on its phase (a candle that did not change
        # since its last push skips a round, hence multiples)
        for gap in (b - a for a, b in itertools.pairwise(times)):
            assert gap >= period - 10 and min(gap % period, period - gap % period) <= 10, (name, times)


def test_a_large_batch_leaves_in_several_writes() -> None:
    """A batch with more than :data:`FLUSH_EVERY_FRAMES` frames (a depth round of many markets) is
    written as it is encoded, so its first frames do not wait for its last."""
    engine = MarketEngine(seed=5, symbols=600, start_ms=START_MS, rate=20_000)
    capture = subscribed(engine, [f"{m.spec.symbol.lower()}@depth@100ms" for m in engine.markets.values()])
    engine.step(5_000, START_MS)
    capture.chunks.clear()
    engine.step(5_000, START_MS + 100)  # crosses a 100 ms boundary: every changed book's diff leaves
    frames = sum(len(payloads(chunk)) for chunk in capture.chunks)
    assert frames > FLUSH_EVERY_FRAMES
    assert len(capture.chunks) >= frames // FLUSH_EVERY_FRAMES
    assert all(len(payloads(chunk)) <= FLUSH_EVERY_FRAMES for chunk in capture.chunks)
