"""CPU per frame of the collector's in-process path, stage by stage, on a recorded market mix.

``bench.collect`` measures the whole system over sockets, where two cores are shared by the venue,
Redis and the collector, so its figures move with the machine's load. This bench isolates the
collector's own Python work on one core: it records ``--seconds`` of the simulated Binance venue's
frames for ``--symbols`` markets (every channel, 8 K-line intervals; the same mix as
``bench.collect``'s paced phase, ``--rate`` market events/s) straight from the venue's fan-out hub,
with every local book synced from a snapshot first, then replays them through

1. **parse**: :meth:`StreamSession._on_frame` (orjson, dispatch, parser, records, local books);
2. **+ store**: the batches into :class:`RecordSink` → :meth:`StoreWriter.put` (encode, conflate);
3. **+ arbitrage**: the same with the arbitrage observer attached, as ``quotewire collect`` runs it
   (the records' latest state evaluated before each flush);
4. **+ flush build**: plus building and packing each flush's transaction, the part of a flush that
   runs before its bytes go to the socket (the Redis round trip itself is in ``bench.store``).

As in the collector, the writer's batch is taken every 10 ms of recorded time.

Prints µs per frame and per record for each stage (best of ``--runs``) and the frame mix, and the
CPU the venue's engine and hub took to make the recording (the load generator's own cost per frame:
in ``bench.collect`` it shares a core with Redis).
No sockets, no Redis: the writer is never started. The GC is tuned as ``quotewire collect`` does
(survivors frozen every second of recorded time) unless ``--default-gc``.

    .venv/bin/python -m bench.pipeline [--symbols 1000] [--rate 10000] [--seconds 10] [--runs 3]
    .venv/bin/python -m bench.pipeline --book python   # the pure-Python local books, to compare
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from core.adapter import Subscription
from core.arbitrage.observer import ArbitrageObserver
from core.clock import SYSTEM_CLOCK
from core.collector.metrics import InstanceMetrics
from core.collector.sink import RecordSink
from core.hookspecs import EventObserver
from core.intervals import ALL_INTERVALS
from core.models import Channel
from core.sim import MarketEngine
from core.store import StoreWriter
from core.store.resp import pack_transaction
from core.store.writer import _Batch
from exchanges.binance.book import LocalBook
from exchanges.binance.frames import Outbox, StreamStats
from exchanges.binance.levels import ACTIVE, KITS, LevelsKit
from exchanges.binance.parsers import BinanceParser
from exchanges.binance.sim import codec
from exchanges.binance.sim.capture import CaptureTransport
from exchanges.binance.sim.faults import Faults
from exchanges.binance.sim.streams import Connection, Hub, parse_stream
from exchanges.binance.streams import StreamSession, plan_streams
from quotewire import gc_policy

INSTANCE = "binance-bench"
START_MS = 1_700_000_000_000
STEP_MS = 10
FLUSH_MS = 10  # the collector's default flush interval
FREEZE_MS = round(gc_policy.FREEZE_EVERY_S * 1000)


class Recording:
    """Frames of the simulated venue, the markets they belong to, and the books' starting snapshots."""

    def __init__(self, symbols: int, rate: float, seconds: float, kit: LevelsKit = ACTIVE) -> None:
        self.kit = kit  # the local books' implementation
        engine = MarketEngine(seed=1, symbols=symbols, start_ms=START_MS, rate=rate)
        self.markets = [
            BinanceParser(INSTANCE).market(codec.symbol_info(m.spec), 0) for m in engine.markets.values()
        ]
        self.markets = [m for m in self.markets if m.status == "trading"]
        native = {m.symbol: m.native_id for m in self.markets}
        subs = [Subscription(c, m.symbol) for m in self.markets for c in Channel if c is not Channel.KLINE]
        subs += [Subscription(Channel.KLINE, m.symbol, i) for m in self.markets for i in ALL_INTERVALS]
        self.plan = plan_streams(subs, native)
        hub = Hub(engine)
        engine.add_listener(hub)
        capture = CaptureTransport()
        conn = Connection(capture, True, Faults())  # type: ignore[arg-type]
        hub.add(conn)
        hub.subscribe(conn, [s for s in map(parse_stream, self.plan.streams) if s is not None])
        self.snapshots = {m.symbol: codec.depth(engine.snapshot(m.native_id, 1000)) for m in self.markets}
        now, per_step = START_MS, max(1, round(rate * STEP_MS / 1000))
        self.frames: list[tuple[int, bytes]] = []  # (recorded time ms, payload)
        self.venue_cpu = 0.0  # the engine's steps and the hub's encoding and fan-out
        while now < START_MS + seconds * 1000:
            started = time.process_time()
            engine.step(per_step, now)
            hub.flush(now)
            self.venue_cpu += time.process_time() - started
            self.frames += [(now, p) for p in capture.take_payloads()]
            now += STEP_MS
        self.mix = Counter(_kind(p) for _, p in self.frames)


def _kind(payload: bytes) -> str:
    stream = orjson.loads(payload).get("stream", "?")
    kind = stream.split("@", 1)[1] if "@" in stream else stream
    return "kline" if kind.startswith("kline_") else kind


def _session(recording: Recording) -> StreamSession:
    async def no_snapshot(symbol: str, limit: int, urgent: bool) -> Any:
        raise AssertionError(f"{symbol}: the book should have been synced")

    parser = BinanceParser(INSTANCE, recording.markets, recording.kit)
    session = StreamSession(
        base_url="ws://127.0.0.1:9",
        parser=parser,
        fetch_snapshot=no_snapshot,
        depth_levels=20,
        clock=SYSTEM_CLOCK,
        stats=StreamStats(),
    )
    session._wanted = recording.plan.wanted

    for symbol, body in recording.snapshots.items():
        book = session._books[symbol] = LocalBook(symbol, parser.levels_kit)
        book.on_snapshot(parser.depth_snapshot(body, symbol))
    return session


def run_stage(
    recording: Recording, store: bool, arbitrage: bool, flush: bool, freeze: bool = True
) -> tuple[float, int]:
    """Replay the recording once; return (seconds of CPU, records produced).

    With ``freeze``, survivors are frozen out of the GC every second of recorded time, as
    :func:`quotewire.gc_policy.upkeep` does in ``quotewire collect``. Without it every young
    collection would scan the books and state built since the start, which the collector's never
    do.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        session = _session(recording)
        writer = StoreWriter("redis://127.0.0.1:9/2")
        observers: list[EventObserver] = []
        if arbitrage:  # as the plugin wires it: evaluated before each flush
            observer = ArbitrageObserver(INSTANCE, deferred=True)
            observer.on_markets(recording.markets)
            observers.append(observer)
            writer.before_flush(observer.drain)
        sink = RecordSink(INSTANCE, writer, observers, InstanceMetrics(INSTANCE, writer), SYSTEM_CLOCK)
        on_frame, outbox = session._on_frame, session.outbox
        records = 0
        next_flush = START_MS + FLUSH_MS
        next_freeze = START_MS + FREEZE_MS if freeze else None
        started = time.process_time()
        for at, payload in recording.frames:
            on_frame(payload, at)
            if at >= next_flush or len(outbox.records) >= 64:
                records += _drain(outbox, sink.put if store else None)
                if at >= next_flush:
                    _take_flush(writer, build=flush)
                    next_flush = at + FLUSH_MS
            if next_freeze is not None and at >= next_freeze:
                gc.freeze()
                next_freeze = at + FREEZE_MS
        records += _drain(outbox, sink.put if store else None)
        return time.process_time() - started, records
    finally:
        loop.close()


def _drain(outbox: Outbox, put: Callable[..., int] | None) -> int:
    batch = outbox.take()
    if put is not None and batch:
        put(batch, live=True)
    return len(batch)


def _take_flush(writer: StoreWriter, build: bool) -> None:
    """Take the writer's batch as a flush does; with ``build``, also build and pack its transaction
    (everything a flush computes before the bytes go to the socket)."""
    writer._run_flush_hooks()
    batch, writer._pending = writer._pending, _Batch()
    if not build:
        return
    batch.history, _ = writer._take_history()
    if not batch.empty():
        pack_transaction(writer._commands(batch, 1))


def best(recording: Recording, runs: int, *, freeze: bool, **stage: bool) -> tuple[float, int]:
    """The least CPU of ``runs`` replays of ``stage``, and the records it produced."""
    results = [run_stage(recording, freeze=freeze, **stage) for _ in range(runs)]
    return min(r[0] for r in results), results[0][1]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10_000, help="market events/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="recorded market time")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--default-gc", action="store_true", help="keep CPython's GC settings")
    parser.add_argument(
        "--book", choices=[k.name for k in KITS], default=ACTIVE.name, help="the local books' implementation"
    )
    args = parser.parse_args(argv)
    kit = next(kit for kit in KITS if kit.name == args.book)
    recording = Recording(args.symbols, args.rate, args.seconds, kit)
    if not args.default_gc:
        gc_policy.tune()  # as `quotewire collect` does
    frames = len(recording.frames)
    print(
        f"recorded {frames:,} frames ({frames / args.seconds:,.0f}/s of market time) for "
        f"{len(recording.markets)} markets at {args.rate:,.0f} events/s; {kit.name} local books"
    )
    print("  mix: " + ", ".join(f"{k} {v / args.seconds:,.0f}/s" for k, v in recording.mix.most_common()))
    print(
        f"  the venue making them (engine steps, encoding, fan-out to one connection): "
        f"{recording.venue_cpu / frames * 1e6:.2f} µs/frame, {recording.venue_cpu / args.seconds:.2f} core"
    )
    stages = [
        ("parse", {"store": False, "arbitrage": False, "flush": False}),
        ("+ store", {"store": True, "arbitrage": False, "flush": False}),
        ("+ arbitrage", {"store": True, "arbitrage": True, "flush": False}),
        ("+ flush build", {"store": True, "arbitrage": True, "flush": True}),
    ]
    print(f"  {'stage':<14} {'µs/frame':>9} {'µs/record':>10} {'records':>9} {'core at recorded rate':>22}")
    for name, stage in stages:
        cpu, records = best(recording, args.runs, freeze=not args.default_gc, **stage)
        print(
            f"  {name:<14} {cpu / frames * 1e6:9.2f} {cpu / max(records, 1) * 1e6:10.2f} "
            f"{records:9,} {cpu / args.seconds:22.2f}"
        )


if __name__ == "__main__":
    main()
