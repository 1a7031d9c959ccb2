"""The collector process around its instance runners: restarts after a crash, stops when told to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from core.collector import Collector
from core.errors import ConfigError
from tests.test_collector_faults import INSTANCE, app_config, binance_host, trading, venue_running


async def never_ends() -> None:
    await asyncio.Event().wait()


async def fails_on_the_way_out() -> None:
    """Runs until cancelled, then fails while closing (a connection reset as it is torn down)."""
    try:
        await asyncio.Event().wait()
    finally:
        raise ConnectionResetError("reset while closing")


async def stop_while_running(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, run: Callable[[], Awaitable[None]]
) -> None:
    """Run a collector whose instance runner is ``run``, cancel it, and require it to stop."""
    async with venue_running() as venue:
        collector = Collector(app_config(venue, redis_url, list(trading(venue, 1))), binance_host())
        monkeypatch.setattr(collector.runners[INSTANCE], "run", run)
        task = asyncio.create_task(collector.run())
        await asyncio.sleep(0.2)
        task.cancel()
        async with asyncio.timeout(5):
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_a_stop_request_wins_over_a_failure_on_the_way_out(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On 3.11 the runner's task group turns the cancellation into the failure; the collector must
    still stop instead of taking it for a crash and restarting the instance."""
    runs = 0

    async def run() -> None:
        nonlocal runs
        runs += 1
        async with asyncio.TaskGroup() as group:
            group.create_task(fails_on_the_way_out())
            group.create_task(never_ends())

    await stop_while_running(redis_url, monkeypatch, run)
    assert runs == 1


async def test_a_lost_cancellation_of_the_runner_is_repeated(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runner that lets one cancellation go (3.11 can lose one that meets a finishing await) is
    cancelled again: the collector still stops."""
    cancellations = 0

    async def run() -> None:
        nonlocal cancellations
        try:
            await never_ends()
        except asyncio.CancelledError:
            cancellations += 1  # lost
        await never_ends()

    await stop_while_running(redis_url, monkeypatch, run)
    assert cancellations == 1


async def test_a_crash_restarts_the_instance_and_a_config_error_stops_the_collector(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with venue_running() as venue:
        collector = Collector(app_config(venue, redis_url, list(trading(venue, 1))), binance_host())
        runner = collector.runners[INSTANCE]
        runs = 0

        async def run() -> None:
            nonlocal runs
            runs += 1
            if runs == 1:
                raise RuntimeError("a bug in the adapter")
            raise ConfigError("the symbol rule selects no market")

        monkeypatch.setattr(runner, "run", run)
        monkeypatch.setattr(collector.clock, "sleep", lambda seconds: asyncio.sleep(0))
        with pytest.raises(ExceptionGroup) as stopped:
            async with asyncio.timeout(5):
                await collector.run()
        assert stopped.group_contains(ConfigError)
        assert runs == 2
        assert runner.metrics.counts["errors"] == 1
    crashes = [
        r for r in caplog.records if r.levelno == logging.ERROR and "instance crashed" in r.getMessage()
    ]
    assert len(crashes) == 1 and crashes[0].exc_info is not None
    assert "a bug in the adapter" in str(crashes[0].exc_info[1])
