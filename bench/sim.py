"""How many websocket messages/s the simulated Binance venue sustains to one client (firehose mode).

Starts ``quotewire sim --venue binance --firehose`` as a separate process, connects one raw websocket
client that subscribes to trade, aggTrade, bookTicker and depth@100ms of every market, counts frames
for ``--duration`` seconds and reports messages/s, MB/s and the venue process's CPU use.

    .venv/bin/python -m bench.sim --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import socket
import subprocess
import sys
import time

import orjson
import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_listening(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the venue did not listen on {port}")


async def count_frames(port: int, streams: list[str], duration: float) -> tuple[int, int, float]:
    """Raw websocket client: handshake, subscribe, count frames; returns (frames, bytes, seconds)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    payload = orjson.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1})
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    header = (
        bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big") if size >= 126 else bytes((0x81, 0x80 | size))
    )
    writer.write(header + mask + masked)
    frames = 0
    received = 0
    buffer = b""
    warm_until = time.monotonic() + 1.0
    started = 0.0
    end = warm_until + duration
    while True:
        now = time.monotonic()
        if now >= end:
            break
        chunk = await reader.read(1 << 20)
        if not chunk:
            break
        buffer += chunk
        pos = 0
        size_all = len(buffer)
        count = 0
        while size_all - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size_all - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size_all - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                head = 10
            if size_all - pos < head + length:
                break
            if buffer[pos] & 0x0F == 1:
                count += 1
            pos += head + length
        buffer = buffer[pos:]
        if now >= warm_until:
            if not started:
                started = now
            frames += count
            received += pos
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return frames, received, time.monotonic() - started


def start_venue(port: int, symbols: int, *options: str) -> subprocess.Popen[bytes]:
    """``quotewire sim --venue binance`` on ``port`` as a child process; ``options`` such as
    ``--firehose`` or ``--rate N`` are passed on."""
    command = [sys.executable, "-m", "quotewire.cli", "sim", "--venue", "binance"]
    command += ["--port", str(port), "--symbols", str(symbols), *options]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to measure (after 1 s warm-up)")
    parser.add_argument("--symbols", type=int, default=50)
    args = parser.parse_args()
    port = free_port()
    venue = start_venue(port, args.symbols, "--firehose")
    try:
        await wait_listening(port)
        process = psutil.Process(venue.pid)
        from core.sim import MarketEngine  # only to list the same markets the venue serves

        names = [m.lower() for m in MarketEngine(seed=1, symbols=args.symbols).markets]
        streams = [
            f"{n}@{kind}" for n in names for kind in ("trade", "aggTrade", "bookTicker", "depth@100ms")
        ]
        cpu_before = process.cpu_times()
        frames, received, seconds = await count_frames(port, streams, args.duration)
        cpu_after = process.cpu_times()
    finally:
        venue.terminate()
        venue.wait(timeout=10)
    user = cpu_after.user - cpu_before.user
    system = cpu_after.system - cpu_before.system
    print(f"venue -> 1 websocket client, firehose, {args.symbols} symbols, {seconds:.1f} s")
    print(f"  messages/s: {frames / seconds:,.0f}")
    print(f"  MB/s:       {received / seconds / 1e6:.1f}")
    print(f"  venue CPU:  {(user + system) / seconds:.2f} cores (user {user:.1f} s, sys {system:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
