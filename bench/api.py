"""API load bench: the quote endpoint and ``/GetData`` against a bare Starlette endpoint doing the same
Redis read, in the same run, plus push delivery latency to 1,000 websocket subscribers.

    .venv/bin/python -m bench.api [--duration 5] [--rounds 3] [--connections 32] [--subscribers 1000]

Everything runs on loopback with a private redis-server; the load generator is this process (asyncio,
keep-alive HTTP/1.1), so the figures are a ratio to the Starlette ceiling measured the same way. The targets
are measured in interleaved rounds and the medians compared; ``cpu`` is the server's CPU time per request,
which does not depend on how fast the load generator is.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.models import Channel
from core.store import StoreReader, StoreWriter
from tests import factories as f
from tests.support.api_data import seed
from tests.support.api_server import REPO, _wait_for_port
from tests.support.redis_server import RedisServer, free_port


def bare_app() -> Starlette:
    """The ceiling: Starlette reading the same quote key through the same StoreReader."""
    reader = StoreReader(os.environ["QUOTEWIRE_REDIS_URL"])

    async def quote(request: Request) -> Response:
        raw = await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE)
        return Response(raw, media_type="application/json")

    return Starlette(routes=[Route("/quote", quote)])


def serve_bare(port: int) -> None:
    """Serve the ceiling as ``quotewire api`` serves the API: uvloop, httptools, startup heap frozen."""
    app = bare_app()
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, loop="uvloop",
                http="httptools", lifespan="off")  # fmt: skip


def _serve(argv: list[str], redis_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QUOTEWIRE_REDIS_URL": redis_url, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(argv, cwd=REPO, env=env)
    _wait_for_port(port)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _http_load(port: int, path: str, duration: float, connections: int) -> tuple[float, list[float]]:
    """Requests/s and latencies (s) of ``connections`` keep-alive clients for ``duration`` seconds."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    latencies: list[float] = []
    deadline = time.perf_counter() + duration

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"{path}: {head[:40]!r}")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    return len(latencies) / (time.perf_counter() - started), latencies


def _cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds the server process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Target:
    name: str
    server: subprocess.Popen[bytes]
    port: int
    path: str


@dataclass(frozen=True)
class Run:
    """One timed load: requests/s, latency percentiles (s) and server CPU per request (s)."""

    rate: float
    p50: float
    p99: float
    cpu: float

    @classmethod
    def median(cls, runs: list[Run]) -> Run:
        return cls(*(statistics.median(getattr(r, k) for r in runs) for k in ("rate", "p50", "p99", "cpu")))


async def _measure(target: Target, warm_up: float, args: argparse.Namespace) -> Run:
    await _http_load(target.port, target.path, warm_up, args.connections)
    cpu = _cpu_seconds(target.server)
    rate, lat = await _http_load(target.port, target.path, args.duration, args.connections)
    per_request = (_cpu_seconds(target.server) - cpu) / max(1, len(lat))
    return Run(rate, _pct(lat, 50), _pct(lat, 99), per_request)


def _line(name: str, run: Run, ceiling: Run) -> str:
    return (f"{name:32s} {run.rate:7.0f} req/s  p50 {run.p50 * 1e3:6.2f} ms  p99 {run.p99 * 1e3:6.2f} ms  "
            f"cpu {run.cpu * 1e6:5.0f} µs  {run.rate / ceiling.rate:5.0%} of bare")  # fmt: skip


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else float("nan")


async def _push_latency(ws_url: str, redis_url: str, subscribers: int, updates: int) -> list[float]:
    """Publish quotes carrying ``monotonic_ns`` as their bid; every subscriber measures delivery."""
    latencies: list[float] = []
    ready = [asyncio.Event() for _ in range(subscribers)]

    async def subscriber(i: int) -> None:
        async with websockets.connect(ws_url, open_timeout=30) as ws:
            command = {
                "op": "subscribe",
                "channels": ["quote"],
                "instances": [f.INSTANCE],
                "symbols": ["BTC-USDT"],
            }
            await ws.send(orjson.dumps(command).decode())
            while orjson.loads(await ws.recv())["type"] != "snapshot":
                pass
            ready[i].set()
            got = 0
            while got < updates:
                frame = orjson.loads(await ws.recv())
                now = time.monotonic_ns()
                for record in frame.get("data", ()) if frame["type"] == "update" else ():
                    latencies.append((now - int(record["bid"])) / 1e9)
                    got += 1

    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        tasks = []
        for i in range(subscribers):  # connect in waves of 50 to spare the listen backlog
            tasks.append(asyncio.create_task(subscriber(i)))
            if i % 50 == 49 or i == subscribers - 1:
                await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready[: i + 1])), 60)
        for n in range(updates):
            writer.put(f.quote(bid=str(time.monotonic_ns()), t=f.T0 + 1000 + n))
            await writer.flush()
            await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return latencies


async def main_async(args: argparse.Namespace) -> None:
    redis = RedisServer()
    redis.start()
    try:
        url = redis.url(2)
        async with StoreWriter(url, flush_interval=3600) as writer:
            await seed(writer)
        config = Path(tempfile.mkdtemp(prefix="qw-bench-")) / "plugins.yaml"
        exchanges = f"exchanges:\n  {f.INSTANCE}: {{plugin: test, enabled: false}}\n"
        config.write_text(f"{exchanges}api:\n  legacy_instance: {f.INSTANCE}\n")
        api_port, bare_port = free_port(), free_port()
        py = sys.executable
        api = _serve(
            [py, "-m", "quotewire.cli", "api", "--config", str(config), "--port", str(api_port)],
            url,
            api_port,
        )
        bare_argv = [py, "-m", "bench.api", "--serve-bare", str(bare_port)]
        bare = _serve(bare_argv, url, bare_port)
        try:
            targets = [
                Target("starlette bare GET quote", bare, bare_port, "/quote"),
                Target(
                    "quotewire /v1/…/BTC-USDT/quote",
                    api,
                    api_port,
                    f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDT/quote",
                ),
                Target("quotewire /GetData/", api, api_port, "/GetData/?pageSize=1&type=1&code=btcusdt"),
            ]
            runs: dict[str, list[Run]] = {t.name: [] for t in targets}
            for round_no in range(1, args.rounds + 1):  # interleaved, so drift on a shared host hits all
                for target in targets:
                    run = await _measure(target, 1.0 if round_no == 1 else 0.3, args)
                    runs[target.name].append(run)
                    print(f"round {round_no}  {_line(target.name, run, runs[targets[0].name][-1])}")
            print(f"median of {args.rounds} rounds (ratios of medians; cpu = server CPU per request)")
            medians = {name: Run.median(r) for name, r in runs.items()}
            for target in targets:
                print(f"  {_line(target.name, medians[target.name], medians[targets[0].name])}")
            _stop(bare)
            push = await _push_latency(
                f"ws://127.0.0.1:{api_port}/v1/stream", url, args.subscribers, args.updates
            )
            print(f"push to {args.subscribers} subscribers: {len(push)} deliveries, "
                  f"p50 {_pct(push, 50) * 1e3:.2f} ms, p99 {_pct(push, 99) * 1e3:.2f} ms")  # fmt: skip
        finally:
            _stop(api)
            if bare.poll() is None:
                _stop(bare)
    finally:
        redis.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians reported)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
