"""Websocket read-loop cost against the simulated Binance venue: websockets vs aiohttp vs our session.

Starts ``quotewire sim --venue binance --firehose`` as a separate process and, over loopback, reads
the combined stream (``/stream?streams=…``: trade, bookTicker and depth@100ms of ``--symbols``
markets) with bare read loops that only count frames:

* ``websockets`` — ``websockets.asyncio.client.connect`` and ``async for message in ws`` (what
  :class:`~exchanges.binance.streams.StreamSession` used before it moved to aiohttp);
* ``aiohttp`` — ``ClientSession.ws_connect`` and ``await ws.receive()`` (text decoded to ``str``);
* ``aiohttp-bytes`` — the same with ``decode_text=False`` (aiohttp ≥ 3.14: text frames as ``bytes``);
* ``picows`` — ``picows.ws_connect`` with a listener whose ``on_ws_frame`` takes the payload as
  ``bytes`` and counts (frames are handed over in the transport's read callback, no await per frame);
* ``session`` — :class:`~exchanges.binance.streams.StreamSession` itself (connect, URL + SUBSCRIBE,
  the receive loop with its receive-time stamp and periodic yield) with ``_on_frame`` replaced by
  a counter, so it measures our read loop without parsing.

Each mode gets a fresh connection, ``--warmup`` seconds, then is measured for ``--seconds`` or
``--frames`` frames, whichever comes first; modes are interleaved over ``--rounds`` rounds and the
best round is reported. The venue is usually the bottleneck of frames/s (it runs in one process on
the same box), so the telling figure is the client's CPU per frame (``time.process_time`` of this
process, which does nothing else): the library's cost per frame, syscalls included. With ``--pin CPU``
the venue and this process share one CPU, so a cheaper reader also shows as more frames/s.

    .venv/bin/python -m bench.ws_read [--symbols 50] [--seconds 4] [--rounds 3] [--modes session,aiohttp]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
import picows
from websockets.asyncio.client import connect

from bench.sim import free_port, start_venue, wait_listening
from core.clock import SYSTEM_CLOCK
from core.models import Channel
from exchanges.binance.frames import StreamStats
from exchanges.binance.parsers import BinanceParser, DepthSnapshot
from exchanges.binance.streams import Plan, StreamSession

KINDS = ("trade", "bookTicker", "depth@100ms")


@dataclass
class Counter:
    frames: int = 0


@dataclass(frozen=True)
class Result:
    mode: str
    frames: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.frames * 1e6 if self.frames else float("nan")


Reader = Callable[[str, list[str], Counter], Coroutine[Any, Any, None]]


async def read_websockets(base: str, streams: list[str], counter: Counter) -> None:
    url = f"{base}/stream?streams={'/'.join(streams)}"
    async with connect(url, max_size=None, compression=None) as ws:
        async for _message in ws:
            counter.frames += 1


async def _read_aiohttp(base: str, streams: list[str], counter: Counter, decode_text: bool) -> None:
    url = f"{base}/stream?streams={'/'.join(streams)}"
    text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
    async with aiohttp.ClientSession() as http:
        ws = await (
            http.ws_connect(url, max_msg_size=0)
            if decode_text
            else http.ws_connect(url, max_msg_size=0, decode_text=False)
        )
        async with ws:
            receive = ws.receive
            while True:
                kind, _data, _extra = await receive()
                if kind is text or kind is binary:
                    counter.frames += 1
                else:
                    return


class _CountingListener(picows.WSListener):
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind is picows.WSMsgType.TEXT or kind is picows.WSMsgType.BINARY:
            frame.get_payload_as_bytes()  # what a parser would need
            self.counter.frames += 1


async def read_picows(base: str, streams: list[str], counter: Counter) -> None:
    url = f"{base}/stream?streams={'/'.join(streams)}"
    transport, _listener = await picows.ws_connect(
        lambda: _CountingListener(counter), url, max_frame_size=1 << 30
    )
    try:
        await transport.wait_disconnected()
    finally:
        transport.disconnect()


async def read_aiohttp(base: str, streams: list[str], counter: Counter) -> None:
    await _read_aiohttp(base, streams, counter, decode_text=True)


async def read_aiohttp_bytes(base: str, streams: list[str], counter: Counter) -> None:
    await _read_aiohttp(base, streams, counter, decode_text=False)


class CountingSession(StreamSession):
    """Our session, frames counted instead of parsed."""

    counter: Counter

    def _on_frame(self, message: str | bytes, receive_time: int) -> None:
        self.counter.frames += 1


async def read_session(base: str, streams: list[str], counter: Counter) -> None:
    async def no_snapshot(symbol: str, limit: int, urgent: bool) -> DepthSnapshot:
        raise AssertionError(symbol)

    session = CountingSession(
        base_url=base,
        parser=BinanceParser("bench", []),
        fetch_snapshot=no_snapshot,
        depth_levels=20,
        clock=SYSTEM_CLOCK,
        stats=StreamStats(),
    )
    session.counter = counter
    wanted: dict[str, frozenset[Channel]] = {}
    async for _batch in session.run(Plan(streams, wanted)):
        pass


MODES: dict[str, Reader] = {
    "websockets": read_websockets,
    "aiohttp": read_aiohttp,
    "aiohttp-bytes": read_aiohttp_bytes,
    "session": read_session,
    "picows": read_picows,
}


async def measure(
    mode: str, base: str, streams: list[str], warmup: float, seconds: float, frames: int
) -> Result:
    counter = Counter()
    task = asyncio.create_task(MODES[mode](base, streams, counter), name=f"bench-{mode}")
    try:
        await asyncio.sleep(warmup)
        if task.done():
            task.result()  # raises what ended the reader
            raise RuntimeError(f"{mode}: the reader ended during warm-up")
        start_frames, start_cpu, start = counter.frames, time.process_time(), time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline and counter.frames - start_frames < frames and not task.done():  # noqa: ASYNC110 - polls a counter
            await asyncio.sleep(0.05)
        end_frames, end_cpu, end = counter.frames, time.process_time(), time.perf_counter()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return Result(mode, end_frames - start_frames, end - start, end_cpu - start_cpu)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per mode and round")
    parser.add_argument(
        "--frames", type=int, default=2_000_000, help="at most this many frames per measurement"
    )
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pin", type=int, default=None, help="run the venue and the reader on this one CPU")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown modes: {', '.join(unknown)}")
    from core.sim import MarketEngine  # only to list the same markets the venue serves

    names = [m.lower() for m in MarketEngine(seed=1, symbols=args.symbols).markets]
    streams = [f"{n}@{kind}" for n in names for kind in KINDS]
    port = free_port()
    venue = start_venue(port, args.symbols, "--firehose")
    if args.pin is not None:
        os.sched_setaffinity(venue.pid, {args.pin})
        os.sched_setaffinity(0, {args.pin})
    results: dict[str, list[Result]] = {m: [] for m in modes}
    try:
        await wait_listening(port)
        base = f"ws://127.0.0.1:{port}"
        for n in range(args.rounds):
            for mode in modes:
                result = await measure(mode, base, streams, args.warmup, args.seconds, args.frames)
                results[mode].append(result)
                print(
                    f"round {n + 1} {mode:>13}: {result.frames:>9,} frames in {result.seconds:4.1f} s "
                    f"= {result.rate:>9,.0f} frames/s, client CPU {result.cpu_us:5.2f} µs/frame",
                    flush=True,
                )
    finally:
        venue.terminate()
        try:
            venue.wait(timeout=10)
        except subprocess.TimeoutExpired:
            venue.kill()
            venue.wait(timeout=10)
    pinned = f", venue and reader pinned to CPU {args.pin}" if args.pin is not None else ""
    print(f"\nbest of {args.rounds} ({len(streams)} streams, {args.symbols} symbols, firehose venue{pinned})")
    for mode, rounds in results.items():
        fastest = max(r.rate for r in rounds)
        cheapest = min(r.cpu_us for r in rounds)
        print(f"  {mode:>13}: {fastest:>9,.0f} frames/s   client CPU {cheapest:5.2f} µs/frame")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
