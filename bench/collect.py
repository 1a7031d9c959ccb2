"""Collector throughput and event-to-Redis latency against the simulated Binance venue.

Three processes on loopback: a private ``redis-server``, the venue (``quotewire sim --venue binance``)
and the collector (``quotewire collect`` with a generated config: every channel, 8 K-line intervals,
``--symbols`` markets). Two phases, each with a fresh venue and collector:

* **paced** — the venue steps its market at ``--rate`` events/s spread over the whole universe (the
  most traded markets get the most events), which yields a real-market-like mix of trade,
  bookTicker, depth@100ms, 24hr ticker and kline frames (printed);
* **firehose** — the venue steps as fast as it can (paused only while the collector's socket holds
  more than 8 MB), so the collector runs flat out.

Measurement: this process subscribes to the store's ``qw:v1:events:{instance}`` channel. The writer
publishes every record in the same MULTI/EXEC as its keys, so a record's arrival here is (within a
pub/sub hop, ~0.15 ms) the moment it became visible in Redis. Per record we take

* **event→Redis** = arrival - venue event time ``E`` (records whose frame carries ``E``; Binance
  spot bookTicker frames do not), which includes the venue's own batching, the socket, parsing,
  the writer's flush interval and the Redis round trip;
* **receive→Redis** = arrival - the collector's receive time (every record).

While measuring, the subscriber only stamps each message's arrival and keeps it; the records are
parsed after the window, so it takes little CPU from the venue and Redis it shares a core with.
Each message is one store flush: their sizes, spacing and the age of each flush's newest record
(about the flush's own duration) are printed too; ``--timeline`` adds event→Redis per second.
The box's own speed is printed beside them (:func:`calibrate`, a fixed workload on the collector's
CPU, before the collector starts and after the window; with ``--timeline`` every second of it): on
the project's box the same CPU moved between ~9 and ~20 µs per unit within seconds, idle, one day,
and held at ~5.6 to ~5.9 another, so figures of two runs compare only at a like speed.

Collector CPU is (user + system) seconds from psutil over the window; peak RSS is ``VmHWM``. The
CPU of the venue, Redis and this process (the measuring subscriber) and the box's idle time are
printed too: when the box has no idle core left, every process waits for CPU and the latencies
measure the machine more than the collector. So by default (``--isolate``) the collector gets a
CPU of its own and everything else shares the other ones, the venue at a lower priority. Per
channel, event→Redis is split into event→receive (the venue's send, the socket and the
collector's socket buffers: a frame is stamped when the collector takes it from the connection)
and receive→Redis (the collector's own path). The venue's own send lag (event time → written to
its socket: its step, encoding and fan-out, from its ``/_sim/state``) is printed beside it.
Figures are only taken after the stream is up, every subscription has produced data and the
start-up K-line backfill (a REST catch-up of every series, ~30 s for 1,000 symbols) is over
(warm-up), and ``--settle`` seconds later (connections that fell behind during the catch-up drain).

    .venv/bin/python -m bench.collect [--symbols 1000] [--rate 10000] [--seconds 10] [--timeline]
    .venv/bin/python -m bench.collect --phase firehose --profile /tmp/collect.prof   # cProfile the collector
    .venv/bin/python -m bench.collect --arbitrage service     # the engine in quotewire arbitrage
    .venv/bin/python -m bench.collect --arbitrage off         # no arbitrage at all
    .venv/bin/python -m bench.collect --no-isolate     # every process on every CPU
    .venv/bin/python -m bench.collect --conflate-backlog 0   # never skip replaced quotes when behind
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis
import yaml

from bench.sim import free_port, start_venue
from core.store.keys import KeySchema
from tests.support.redis_server import RedisServer

INSTANCE = "binance-bench"
INTERVALS = ["1m", "5m", "15m", "30m", "1h", "1d", "1w", "1M"]
CHANNELS = ["ticker", "quote", "price", "depth", "trades", "kline"]
PYTHON = sys.executable


def send_lag_window(before: dict[str, Any], after: dict[str, Any], kind: str | None = None) -> list[float]:
    """The venue's send lag of every frame (of stream ``kind``, or every kind) it wrote between two
    ``/sim/state`` answers, ascending (from its cumulative ``send_lag_ms`` histograms: frames by ms
    after their event time)."""
    if kind is None:
        old, new = before.get("send_lag_ms", {}), after.get("send_lag_ms", {})
    else:
        old = before.get("send_lag_ms_by_kind", {}).get(kind, {})
        new = after.get("send_lag_ms_by_kind", {}).get(kind, {})
    lags: list[float] = []
    for lag in sorted(new, key=int):
        lags += [float(lag)] * (new[lag] - old.get(lag, 0))
    return lags


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Inclusive percentile (nearest rank) of an ascending list; NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[rank]


@dataclass
class Window:
    """What the subscriber saw while measuring."""

    records: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    event_lat: list[float] = field(default_factory=list)
    receive_lat: list[float] = field(default_factory=list)
    by_channel: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    """channel → (event→receive, receive→Redis) of the records that carry ``E``."""
    flush_sizes: list[int] = field(default_factory=list)
    """Records per events message (one per store flush)."""
    youngest: list[float] = field(default_factory=list)
    """Per flush, receive→Redis of its newest record: the flush's own duration, about."""
    gaps: list[float] = field(default_factory=list)
    """Time between consecutive flushes' arrivals."""
    seconds: dict[int, list[float]] = field(default_factory=dict)
    """Arrival second (epoch) → event→Redis of the records that arrived in it."""
    seconds_split: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)
    """Arrival second (epoch) → (event→receive, receive→Redis) of its records that carry ``E``."""


def measure(messages: list[tuple[float, bytes]]) -> Window:
    """The latencies of every record of the events ``messages`` (arrival in ms, JSON array)."""
    window = Window()
    by_channel = window.by_channel
    previous: float | None = None
    for arrival, data in messages:
        records: list[dict[str, Any]] = orjson.loads(data)
        window.records += len(records)
        window.flush_sizes.append(len(records))
        if records:
            window.youngest.append(arrival - max(r["receive_time"] for r in records))
        if previous is not None:
            window.gaps.append(arrival - previous)
        previous = arrival
        second = int(arrival // 1000)
        this_second = window.seconds.setdefault(second, [])
        second_split = window.seconds_split.setdefault(second, ([], []))
        for r in records:
            channel = r.get("channel", "?")
            window.channels[channel] += 1
            event_time, receive_time = r.get("event_time"), r["receive_time"]
            window.receive_lat.append(arrival - receive_time)
            if event_time is not None:
                window.event_lat.append(arrival - event_time)
                this_second.append(arrival - event_time)
                second_split[0].append(receive_time - event_time)
                second_split[1].append(arrival - receive_time)
                split = by_channel.get(channel)
                if split is None:
                    split = by_channel[channel] = ([], [])
                split[0].append(receive_time - event_time)
                split[1].append(arrival - receive_time)
    return window


class EventsTap:
    """Subscribes to the instance's events channel on a thread; measures only between start and stop."""

    def __init__(self, url: str, cpus: list[int] | None = None) -> None:
        self.cpus = cpus
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call,unused-ignore]
        self._pubsub.subscribe(KeySchema().events(INSTANCE))
        self._measuring = False
        self._stop = threading.Event()
        self._raw: list[tuple[float, bytes]] = []  # (arrival ms, message) in the window
        self.seen: set[tuple[str, str]] = set()  # (symbol, channel[:interval]) seen at all
        self._thread = threading.Thread(target=self._run, name="events-tap", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)  # this thread only
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.05)
            if message is None:
                continue
            arrival = time.time() * 1000.0
            if self._measuring:
                # only stamp and keep it: parsing waits for the window's end, so the subscriber
                # takes as little CPU as it can from the venue and Redis while they are measured
                self._raw.append((arrival, message["data"]))
                continue
            for r in orjson.loads(message["data"]):
                channel = r.get("channel", "?")
                self.seen.add(
                    (r.get("symbol", ""), f"{channel}:{r['interval']}" if "interval" in r else channel)
                )

    def start_window(self) -> None:
        self._raw = []
        self._measuring = True

    def stop_window(self) -> list[tuple[float, bytes]]:
        """End the window; return what arrived in it, for :func:`measure`."""
        self._measuring = False
        raw, self._raw = self._raw, []
        return raw

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._pubsub.close()
        self._client.close()


Sample = tuple[float, dict[str, Any], float, float]
"""(epoch s, venue state, collector CPU seconds so far, the box's speed on the collector's CPU)."""


class Sampler:
    """Every second, on a thread: the venue's send-lag histogram, the collector's CPU time and the
    box's speed on the collector's CPU (:func:`calibrate`, 100 units: ~1-2 ms of that CPU a second),
    so the timeline can show each second's venue lag, collector load and box speed beside its
    latencies."""

    def __init__(self, port: int, collector: psutil.Process, speed_cpu: int) -> None:
        self._port = port
        self._collector = collector
        self._speed_cpu = speed_cpu
        self._stop = threading.Event()
        self.samples: list[Sample] = []
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                state = venue_state(self._port)
                speed = calibrate(self._speed_cpu, rounds=1, units=100)
                self.samples.append((time.time(), state, _busy(self._collector), speed))
            self._stop.wait(1.0 - time.time() % 1.0)  # near each second's start

    def close(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.samples

    @staticmethod
    def per_second(samples: list[Sample]) -> dict[int, tuple[float, float, float]]:
        """Epoch second → (the venue's send lag p99 in ms, the collector's CPU in cores, the box's
        speed in µs/unit) over the interval that ended in that second."""
        out: dict[int, tuple[float, float, float]] = {}
        for (t0, state0, busy0, _), (t1, state1, busy1, speed) in itertools.pairwise(samples):
            lags = send_lag_window(state0, state1)
            out[int(t1) - 1] = (percentile(lags, 99), (busy1 - busy0) / max(t1 - t0, 1e-3), speed)
        return out


def wait_http(url: str, within: float) -> Any:
    """GET ``url`` until it answers (JSON), or raise after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return orjson.loads(answer.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def venue_state(port: int) -> dict[str, Any]:
    state: dict[str, Any] = wait_http(f"http://127.0.0.1:{port}/_sim/state", 30)
    return state


def start_binance_venue(port: int, symbols: int, firehose: bool, rate: float) -> subprocess.Popen[bytes]:
    mode = ["--firehose"] if firehose else ["--rate", str(rate)]
    return start_venue(port, symbols, "--fault", "weight_limit=100000000", *mode)


def write_config(
    directory: Path,
    redis_url: str,
    venue_port: int,
    symbols: int,
    arbitrage: str,
    flush_ms: int,
    kline_history: int = 0,
    conflate_backlog: int | None = None,
) -> Path:
    root = f"127.0.0.1:{venue_port}"
    runs_in = "service" if arbitrage == "service" else "collector"
    options: dict[str, object] = {"arbitrage": {"enabled": arbitrage != "off", "runs_in": runs_in}}
    if conflate_backlog is not None:
        options["conflate_backlog"] = conflate_backlog
    config = {
        "version": 1,
        "redis": {"url": redis_url},
        "collector": {"flush_interval_ms": flush_ms, "max_buffered": 200_000, "stall_timeout": 30},
        "exchanges": {
            INSTANCE: {
                "plugin": "binance", "simulated": True, "symbols": {"status": "trading", "limit": symbols},
                "channels": CHANNELS, "intervals": INTERVALS, "depth_levels": 20, "transport": "auto",
                "kline_history": kline_history, "urls": {"rest": f"http://{root}", "websocket": f"ws://{root}"},
                "options": options,
            }
        },
    }  # fmt: skip
    path = directory / "collect.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_collector(config: Path, profile: str | None) -> subprocess.Popen[bytes]:
    command = [PYTHON]
    if profile:
        command += ["-m", "cProfile", "-o", profile]
        command += [str(Path(__file__).resolve().parents[1] / "quotewire" / "cli.py")]
    else:
        command += ["-m", "quotewire.cli"]
    command += ["collect", "--config", str(config)]
    env = {k: v for k, v in os.environ.items() if k != "QUOTEWIRE_REDIS_URL"}  # the config's URL wins
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_arbitrage_service(config: Path) -> subprocess.Popen[bytes]:
    """``quotewire arbitrage`` on the same config (its log is dropped: the bench prints its CPU)."""
    env = {k: v for k, v in os.environ.items() if k != "QUOTEWIRE_REDIS_URL"}
    command = [PYTHON, "-m", "quotewire.cli", "arbitrage", "--config", str(config)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def counter(url: str, name: str) -> int:
    """One of the collector's counters (its stats hash in Redis)."""
    value = redis.Redis.from_url(url).hget(KeySchema().stats(INSTANCE), name)
    return int(value or 0)


class LogWatch:
    """Relays the collector's log (stderr) to ours and notes when its first K-line backfill is done."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.backfilled = threading.Event()
        assert process.stderr is not None
        self._stream = process.stderr
        self._thread = threading.Thread(target=self._run, name="collector-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for line in self._stream:
            sys.stderr.buffer.write(line)
            if b"backfill done" in line:
                self.backfilled.set()

    def wait_backfilled(self, collector: subprocess.Popen[bytes], deadline: float) -> bool:
        """Wait for the start-up backfill to end; False if ``deadline`` (monotonic) came first."""
        while time.monotonic() < deadline:
            if collector.poll() is not None:
                raise RuntimeError(f"the collector exited with {collector.returncode}")
            if self.backfilled.wait(0.25):
                return True
        return False


VENUE_NICE = 10
"""Scheduling priority of the venue: below Redis and the measuring subscriber, which share its CPU.
(The subscriber at the venue's priority waited for the venue's turns: its arrival stamps ran late.)"""


def isolate(collector: psutil.Process, *, venue: psutil.Process, redis: psutil.Process) -> None:
    """Give the collector one core of its own, as far as a shared box allows.

    The collector (every thread) is pinned to the last CPU and everything else it measures against
    (the venue, Redis; the subscriber's thread pins itself) to the others, so nothing spills onto
    the collector's core when the box is full. The venue also runs at a lower priority than Redis,
    whose writes are part of event→Redis, and the subscriber, whose arrival stamps are the
    measurement. On a deployment the venue is across the network; here it shares the box.
    """
    collector.cpu_affinity([collector_cpu()])
    venue.cpu_affinity(load_cpus())
    redis.cpu_affinity(load_cpus())
    venue.nice(VENUE_NICE)


def collector_cpu() -> int:
    """The CPU :func:`isolate` gives the collector: the last one."""
    return (psutil.cpu_count() or 1) - 1


def load_cpus() -> list[int]:
    """The CPUs :func:`isolate` leaves to everything else."""
    return list(range(collector_cpu())) or [0]


def thread_busy(process: psutil.Process) -> dict[str, float]:
    """CPU seconds (user + system) so far of each thread of ``process``: ``main`` (the event loop)
    and ``thread <id>`` for the others (the store writer's)."""
    return {
        "main" if t.id == process.pid else f"thread {t.id}": t.user_time + t.system_time
        for t in process.threads()
    }


def _busy(process: psutil.Process) -> float:
    """CPU seconds (user + system) used so far by ``process``."""
    times = process.cpu_times()
    return float(times.user + times.system)


def peak_rss(pid: int) -> int:
    """VmHWM of ``pid`` in bytes (Linux), else the current RSS."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return int(psutil.Process(pid).memory_info().rss)


CALIBRATION_DOC = (
    b'{"e":"depthUpdate","E":1700000000000,"s":"BTCUSDT","U":1,"u":9,'
    b'"b":[["43210.00000000","0.50000000"],["43209.99000000","1.25000000"]],'
    b'"a":[["43210.01000000","0.50000000"],["43210.02000000","1.25000000"]]}'
)
"""The frame :func:`calibrate` parses, re-encodes and dumps, over and over."""


def calibrate(cpu: int, rounds: int = 5, units: int = 2_000) -> float:
    """The box's speed on ``cpu`` now: µs per unit of a fixed workload like the collector's (orjson
    parse, Decimals from text, dict work, orjson dump), best of ``rounds``, by this thread's CPU
    time. An idle CPU of the project's box moved between ~9 and ~20 µs per unit within seconds, with
    no steal time reported, one day, and read ~5.6 to ~5.9 all of another; a collector figure is
    comparable across runs only beside this one."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, [cpu])
    try:
        best = float("inf")
        for _ in range(rounds):
            started = time.thread_time()  # this thread's own CPU time: the collector may share the CPU
            for _ in range(units):
                doc = orjson.loads(CALIBRATION_DOC)
                book = {Decimal(price): Decimal(size) for price, size in doc["b"] + doc["a"]}
                orjson.dumps({"levels": [[str(p), str(q)] for p, q in sorted(book.items())], "u": doc["u"]})
            best = min(best, (time.thread_time() - started) / units * 1e6)
        return best
    finally:
        os.sched_setaffinity(0, previous)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_phase(
    name: str, server: RedisServer, args: argparse.Namespace, firehose: bool, profile: str | None
) -> None:
    redis.Redis.from_url(server.url(2)).flushall()
    port = free_port()
    venue = start_binance_venue(port, args.symbols, firehose, args.rate)
    collector: subprocess.Popen[bytes] | None = None
    service: subprocess.Popen[bytes] | None = None
    tap = EventsTap(server.url(2), cpus=load_cpus() if args.isolate else None)
    speed_before = calibrate(collector_cpu())  # the venue runs already, on the other CPUs
    try:
        venue_state(port)
        with tempfile.TemporaryDirectory(prefix="qw-bench-") as directory:
            config = write_config(
                Path(directory),
                server.url(2),
                port,
                args.symbols,
                args.arbitrage,
                args.flush_ms,
                args.kline_history,
                args.conflate_backlog,
            )
            collector = start_collector(config, profile)
            process = psutil.Process(collector.pid)
            assert server.pid is not None
            others = {"venue": psutil.Process(venue.pid), "redis": psutil.Process(server.pid)}
            if args.arbitrage == "service":
                service = start_arbitrage_service(config)
                others["arbitrage service"] = psutil.Process(service.pid)
            if args.isolate:
                isolate(process, venue=others["venue"], redis=others["redis"])
                if service is not None:
                    others["arbitrage service"].cpu_affinity(load_cpus())
            others["bench (tap)"] = psutil.Process()
            watch = LogWatch(collector)
            # warm-up: until every (symbol, stream) was seen or the warm-up budget ran out
            expected = args.symbols * (len(CHANNELS) - 1 + len(INTERVALS))
            started = time.monotonic()
            while time.monotonic() - started < args.warmup:
                if collector.poll() is not None:
                    raise RuntimeError(f"the collector exited with {collector.returncode}")
                if len(tap.seen) >= expected * args.coverage:
                    break
                time.sleep(0.25)
            coverage = len(tap.seen) / expected
            # ...and until the start-up K-line backfill (a REST catch-up of every series) is over: a
            # window that overlaps it measures start-up, not the sustained stream
            rest_settled = watch.wait_backfilled(collector, started + args.warmup)
            # ...and a few seconds more: connections that fell behind while the catch-up took the
            # collector's CPU drain their socket backlogs (in one run that took ~10 s)
            time.sleep(args.settle)
            warm = time.monotonic() - started
            rest0 = counter(server.url(2), "rest_calls")
            batches0 = counter(server.url(2), "messages")
            state0 = venue_state(port)
            cpu0 = process.cpu_times()
            threads0 = thread_busy(process)
            others0 = {name: _busy(p) for name, p in others.items()}
            box0 = psutil.cpu_times()
            sampler = Sampler(port, process, collector_cpu()) if args.timeline else None
            tap.start_window()
            t0 = time.monotonic()
            time.sleep(args.seconds)
            arrived = tap.stop_window()
            samples = sampler.close() if sampler is not None else []
            seconds = time.monotonic() - t0
            cpu1 = process.cpu_times()
            threads1 = thread_busy(process)
            others1 = {name: _busy(p) for name, p in others.items()}
            box1 = psutil.cpu_times()
            rest_in_window = counter(server.url(2), "rest_calls") - rest0
            batches = counter(server.url(2), "messages") - batches0
            state1 = venue_state(port)
            rss = peak_rss(collector.pid)
            stop(collector)
            speed_after = calibrate(collector_cpu())
    finally:
        tap.close()
        if collector is not None:
            stop(collector)
        if service is not None:
            stop(service)
        stop(venue)
    window = measure(arrived)
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / seconds
    frames = (state1["frames_out"] - state0["frames_out"]) / seconds
    steps = (state1["steps"] - state0["steps"]) / seconds
    event = sorted(window.event_lat)
    receive = sorted(window.receive_lat)
    mode = "firehose" if firehose else f"paced at {args.rate:,.0f} market events/s"
    arbitrage = {
        "service": "arbitrage in its own process (quotewire arbitrage)",
        "collector": "arbitrage in the collector's event loop",
        "off": "no arbitrage",
    }[args.arbitrage]
    print(
        f"\n== {name}: {args.symbols} symbols, every channel, {len(INTERVALS)} intervals, {mode}, {arbitrage}"
    )
    if args.isolate:
        print(
            f"  collector pinned to CPU {collector_cpu()}; the venue, Redis and the subscriber to the "
            f"others, the venue at nice {VENUE_NICE}"
        )
    settled = "start-up backfill done" if rest_settled else "start-up backfill NOT done (raise --warmup)"
    print(
        f"  warm-up {warm:.1f} s, {coverage:.0%} of {expected:,} symbol streams seen, {settled}; "
        f"window {seconds:.1f} s with {rest_in_window:,} REST calls"
    )
    lag = send_lag_window(state0, state1)
    print(
        f"  venue: {steps:,.0f} market events/s, {frames:,.0f} frames/s sent; its own send lag (event "
        f"time -> written to the socket) p50 {percentile(lag, 50):.0f} ms, p99 {percentile(lag, 99):.0f} ms"
    )
    mix = ", ".join(f"{c} {n / seconds:,.0f}" for c, n in window.channels.most_common())
    print(f"  collector: {window.records / seconds:,.0f} records/s written  ({mix})")
    print(f"  stream batches handed to the sink: {batches / seconds:,.0f}/s")
    print(f"  event->Redis   p50 {percentile(event, 50):6.1f} ms  p99 {percentile(event, 99):6.1f} ms"
          f"  max {percentile(event, 100):6.1f} ms  ({len(event):,} records with E)")  # fmt: skip
    print(f"  receive->Redis p50 {percentile(receive, 50):6.1f} ms  p99 {percentile(receive, 99):6.1f} ms"
          f"  max {percentile(receive, 100):6.1f} ms")  # fmt: skip
    sizes, youngest, gaps = sorted(window.flush_sizes), sorted(window.youngest), sorted(window.gaps)
    print(
        f"  flushes: {len(sizes) / seconds:.0f}/s of p50 {percentile(sizes, 50):.0f} records (max "
        f"{percentile(sizes, 100):.0f}), apart p50 {percentile(gaps, 50):.1f} / p99 "
        f"{percentile(gaps, 99):.1f} ms;"
        f" newest record p50 {percentile(youngest, 50):.1f} / p99 {percentile(youngest, 99):.1f} ms"
    )
    print(
        "  per channel, p50/p99 ms: event->receive (venue, socket, read queue) | receive->Redis"
        " | of event->receive, the venue's own send lag"
    )
    for channel, (venue_part, collector_part) in sorted(window.by_channel.items()):
        venue_part.sort()
        collector_part.sort()
        own = send_lag_window(state0, state1, "trades" if channel == "price" else channel)
        print(
            f"    {channel:<8} {percentile(venue_part, 50):7.1f} / {percentile(venue_part, 99):7.1f}"
            f"  | {percentile(collector_part, 50):7.1f} / {percentile(collector_part, 99):7.1f}"
            f"  | {percentile(own, 50):7.1f} / {percentile(own, 99):7.1f}"
        )
    if args.timeline:
        print(
            "  per second of arrival: event->Redis p50 / p99 / max ms (records) | p99 event->receive,"
            " receive->Redis | venue send lag p99 ms, collector cores, box speed µs/unit (lower: faster)"
        )
        sampled = Sampler.per_second(samples)
        for second, latencies in sorted(window.seconds.items()):
            if not latencies:
                continue
            latencies.sort()
            to_receive, to_redis = (sorted(part) for part in window.seconds_split[second])
            venue_lag, cores, speed = sampled.get(second, (float("nan"), float("nan"), float("nan")))
            print(
                f"    {time.strftime('%H:%M:%S', time.gmtime(second))}  {percentile(latencies, 50):7.1f} / "
                f"{percentile(latencies, 99):7.1f} / {percentile(latencies, 100):7.1f}  ({len(latencies):,})"
                f" | {percentile(to_receive, 99):6.1f} {percentile(to_redis, 99):6.1f}"
                f" | {venue_lag:5.0f} {cores:5.2f} {speed:5.1f}"
            )
        speeds = sorted(sample[3] for sample in samples)
        print(
            f"  the box's speed on the collector's CPU during the window: best {percentile(speeds, 0):.1f},"
            f" median {percentile(speeds, 50):.1f}, worst {percentile(speeds, 100):.1f} µs/unit"
        )
    print(
        f"  the box's speed on the collector's CPU (calibrate(), a fixed workload; lower is faster): "
        f"{speed_before:.1f} µs/unit before the collector started, {speed_after:.1f} after the window"
        " (the project's box: ~5.6 on a fast day; ~9 to ~20 within seconds on a slow one)"
    )
    user, system = (cpu1.user - cpu0.user) / seconds, (cpu1.system - cpu0.system) / seconds
    print(
        f"  collector CPU {cpu:.2f} cores (user {user:.2f}, system {system:.2f}), "
        f"peak RSS {rss / 2**20:.0f} MiB"
    )
    by_thread = Counter({n: (threads1[n] - threads0.get(n, 0.0)) / seconds for n in threads1})
    busy = ", ".join(f"{n} {c:.2f}" for n, c in by_thread.most_common() if c >= 0.005)
    print(f"  by thread, cores: {busy}")
    neighbours = ", ".join(f"{n} {(others1[n] - others0[n]) / seconds:.2f}" for n in others)
    idle = (box1.idle - box0.idle) / seconds
    print(f"  the rest of the box, cores: {neighbours}; idle {idle:.2f} of {psutil.cpu_count()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10_000, help="paced market events/s (whole universe)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per phase")
    parser.add_argument(
        "--warmup", type=float, default=600.0, help="max seconds of warm-up (data seen, backfill done)"
    )
    parser.add_argument(
        "--settle", type=float, default=15.0, help="seconds between the end of the warm-up and the window"
    )
    parser.add_argument("--flush-ms", type=int, default=10, help="the collector's store flush interval")
    parser.add_argument(
        "--kline-history",
        type=int,
        default=0,
        help="candles of history the start-up backfill writes per series (the shipped config: 1000)",
    )
    parser.add_argument(
        "--conflate-backlog",
        type=int,
        default=None,
        help="frames waiting on a connection from which replaced quotes are skipped (0: never; default: "
        "the adapter's)",
    )
    parser.add_argument("--coverage", type=float, default=0.9, help="share of streams seen to end warm-up")
    parser.add_argument("--phase", choices=["both", "paced", "firehose"], default="both")
    parser.add_argument(
        "--arbitrage",
        choices=["service", "collector", "off"],
        default="collector",
        help="where the arbitrage engine runs: the collector's event loop (default, as the shipped "
        "plugins.yaml), its own process (quotewire arbitrage, as the demo), or nowhere",
    )
    parser.add_argument("--timeline", action="store_true", help="print event->Redis per second of the window")
    parser.add_argument("--profile", help="run the collector under cProfile, writing this file")
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"pin the collector to a CPU of its own, the rest to the others; the venue at nice {VENUE_NICE}",
    )
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        if args.phase in ("both", "paced"):
            run_phase("paced", server, args, False, args.profile if args.phase == "paced" else None)
        if args.phase in ("both", "firehose"):
            run_phase("firehose", server, args, True, args.profile)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
