"""``quotewire up``, the README's first command: the offline demo end to end, then a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

from quotewire.supervisor import free_port

REPO = Path(__file__).resolve().parent.parent
DEMO_VENUE_PORTS = (9001, 9002)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as answer:
        return json.loads(answer.read())


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_up_serves_collected_candles_and_stops_everything_on_ctrl_c(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "QUOTEWIRE_REDIS_URL": redis_url}  # our private server, not 6379
    command = [sys.executable, "-m", "quotewire.cli", "up", "--port", str(port), "--run-dir", str(tmp_path)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    candles: Any = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                candles = get_json(f"http://127.0.0.1:{port}/GetData/?pageSize=1&type=1&code=btcusdt")
            except (OSError, ValueError):
                candles = None
            if candles:
                break
            time.sleep(0.5)
        assert candles, "the legacy endpoint served no candles within 90 s"
        assert len(candles) == 10
        assert {"id", "open", "close", "high", "low", "amount", "vol"} <= candles[0].keys()
        assert get_json(f"http://127.0.0.1:{port}/health")["status"] == "ok"
        instances = redis.Redis.from_url(redis_url).hgetall("qw:v1:instances")
        assert {b"binance-sim", b"huobi-sim"} <= instances.keys()
        # the demo's arbitrage runs as a service beside the collector, on the markets it stored
        arbitrage_log = tmp_path / "arbitrage.log"
        engine_built = re.compile(r"binance-sim: [1-9]\d* markets, [1-9]\d* cycles")
        deadline = time.monotonic() + 30
        while not engine_built.search(_text(arbitrage_log)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert engine_built.search(_text(arbitrage_log)), _text(arbitrage_log)[-2000:]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output = process.communicate(timeout=60)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            process.kill()  # last resort; the check below reports any child that outlived it
            output = process.communicate()[0].decode(errors="replace")
    assert process.returncode == 0, output[-2000:]
    assert not any(listening(p) for p in (port, *DEMO_VENUE_PORTS)), "a child outlived Ctrl-C"


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
