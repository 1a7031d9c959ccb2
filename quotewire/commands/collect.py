"""``quotewire collect [--config plugins.yaml]``: run every enabled instance into Redis until stopped.

SIGINT and SIGTERM cancel the collector; the store writer flushes once more, adapters close, and the
process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from core.arbitrage.service import service_settings
from core.collector import Collector
from core.config import load_config
from core.plugins import PluginHost
from quotewire import gc_policy

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("collect", help="collect market data from every enabled instance into Redis")
    parser.add_argument(
        "--config", default="plugins.yaml", help="path to plugins.yaml (default ./plugins.yaml)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host = PluginHost.load()
    config = load_config(args.config, plugins=host.adapters.keys())
    collector = Collector(config, host)
    gc_policy.tune()
    names = ", ".join(collector.runners) or "none"
    log.info("collecting %d instance(s) from %s: %s", len(collector.runners), args.config, names)
    if served := service_settings(config):
        log.info(
            "the arbitrage of %s runs in its own process (options.arbitrage.runs_in: service):"
            " quotewire arbitrage --config %s",
            ", ".join(sorted(served)),
            args.config,
        )

    run_until_signalled(with_gc_upkeep(collector.run))
    return 0


def with_gc_upkeep(main: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], Coroutine[Any, Any, None]]:
    """``main`` with :func:`quotewire.gc_policy.upkeep` running beside it (a long-lived process's GC)."""

    async def run() -> None:
        upkeep = asyncio.create_task(gc_policy.upkeep(), name="gc-upkeep")
        try:
            await main()
        finally:
            upkeep.cancel()

    return run


def run_until_signalled(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` on a fresh event loop (uvloop when installed) until SIGINT/SIGTERM cancel it."""

    async def guarded() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _stop, task, signum)
        try:
            await main()
        except asyncio.CancelledError:
            if task.cancelling() == 0:
                raise
            log.info("stopped")
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    with asyncio.Runner(loop_factory=loop_factory()) as runner, contextlib.suppress(asyncio.CancelledError):
        runner.run(guarded())


def _stop(task: asyncio.Task[None], signum: int) -> None:
    log.info("%s received; stopping", signal.Signals(signum).name)
    task.cancel()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop factory when it is installed, else ``None`` (asyncio's own loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
