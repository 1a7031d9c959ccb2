"""Structured logs: JSON lines with the instance a line comes from, from the formatter to the CLI."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from core.collector import Collector
from core.logs import LOG_INSTANCE, InstanceFilter, JsonFormatter, log_format
from tests.support.collector_e2e import until
from tests.support.redis_server import free_port
from tests.test_collector_faults import INSTANCE, app_config, binance_host, trading, venue_running

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes at INFO, as :func:`~core.logs.configure_logging` sets it up for
    ``json`` (its handler, on a buffer)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(InstanceFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


async def test_each_task_logs_its_own_instance_and_the_call_s_extra_fields(json_lines: io.StringIO) -> None:
    log = logging.getLogger("quotewire.test")

    async def work(instance: str) -> None:
        LOG_INSTANCE.set(instance)
        await asyncio.sleep(0)
        inner = asyncio.create_task(asyncio.sleep(0))  # tasks it starts inherit the instance
        await inner
        log.warning("%s: resyncing %s", instance, "BTC/USDT", extra={"symbol": "BTC/USDT", "gap": 3})

    await asyncio.gather(work("binance"), work("huobi"))
    log.info("no instance here", extra={"odd": object()})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    lines = parsed(json_lines)
    assert {(line["instance"], line["message"]) for line in lines[:2]} == {
        ("binance", "binance: resyncing BTC/USDT"),
        ("huobi", "huobi: resyncing BTC/USDT"),
    }
    assert lines[0]["symbol"] == "BTC/USDT" and lines[0]["gap"] == 3 and lines[0]["level"] == "WARNING"
    assert lines[0]["logger"] == "quotewire.test" and lines[0]["time"].endswith("+00:00")
    assert "instance" not in lines[2] and lines[2]["odd"].startswith("<object object")
    assert lines[3]["level"] == "ERROR" and "ValueError: boom" in lines[3]["exception"]


async def test_the_collector_s_lines_carry_their_instance(redis_url: str, json_lines: io.StringIO) -> None:
    async with venue_running() as venue:
        collector = Collector(app_config(venue, redis_url, list(trading(venue, 2))), binance_host())
        task = asyncio.create_task(collector.run())
        try:
            async with asyncio.timeout(20):
                await until(lambda: "stream up" in json_lines.getvalue(), task)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    ours = ("core.collector.", "exchanges.binance.")
    lines = [line for line in parsed(json_lines) if line["logger"].startswith(ours)]
    instance_lines = [line for line in lines if INSTANCE in line["message"]]
    assert instance_lines and all(line.get("instance") == INSTANCE for line in instance_lines)


def test_the_command_line_writes_json_lines() -> None:
    """``quotewire --log-format json``: the venue's start-up line is one JSON object."""
    command = [sys.executable, "-m", "quotewire.cli", "--log-format", "json"]
    venue = subprocess.Popen(
        [*command, "sim", "--venue", "binance", "--port", str(free_port()), "--symbols", "3"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert venue.stderr is not None
        line = orjson.loads(venue.stderr.readline())
        assert line["level"] == "INFO" and "listening" in line["message"]
        assert line["logger"].startswith("exchanges.binance.sim")
    finally:
        venue.terminate()
        venue.communicate(timeout=10)  # waits, and closes the pipe
    environment = {**os.environ, "QUOTEWIRE_LOG_FORMAT": "yaml"}
    refused = subprocess.run(
        [*command[:-2], "plugins"], cwd=REPO, capture_output=True, text=True, env=environment, check=False
    )
    assert refused.returncode == 2 and "log format must be text or json" in refused.stderr


def test_the_format_comes_from_the_option_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUOTEWIRE_LOG_FORMAT", raising=False)
    assert log_format() == "text"
    monkeypatch.setenv("QUOTEWIRE_LOG_FORMAT", "JSON")
    assert log_format() == "json" and log_format("text") == "text"
