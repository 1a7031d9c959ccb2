"""``quotewire collect [--config plugins.yaml]``: run every enabled instance into Redis until stopped.

SIGINT and SIGTERM cancel the collector; the store writer flushes once more, adapters close, and the
process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

from core.collector import Collector
from core.config import load_config
from core.plugins import PluginHost

log = logging.getLogger(__name__)

GC_GEN0_THRESHOLD = 10_000
"""Allocations between young-generation collections (CPython's default is 700).

The collector allocates a few dicts and tuples per market-data record, nearly all freed at once by
reference counting; at the default threshold the cyclic collector ran ~100 times a second and took
~14% of the in-process CPU (``bench/pipeline.py``: 0.22 s of 1.61 s), at 10,000 about 5%.
"""


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
    tune_gc()
    names = ", ".join(collector.runners) or "none"
    log.info("collecting %d instance(s) from %s: %s", len(collector.runners), args.config, names)
    run_until_signalled(collector.run)
    return 0


def tune_gc() -> None:
    """Set the garbage collector up for a long-running, allocation-heavy process.

    Objects alive after start-up (modules, plugins, configuration) are frozen out of every future
    collection, and young-generation collections run every :data:`GC_GEN0_THRESHOLD` allocations.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, older, oldest)
    if _log_long_collections not in gc.callbacks:
        gc.callbacks.append(_log_long_collections)


GC_PAUSE_WARNING_S = 0.05
"""A garbage collection longer than this is logged (it holds every stream for that long); after a
full collection that long, the survivors are frozen (``gc.freeze``): in ``bench.collect`` full
collections of the 1,000-symbol state took 68-94 ms every ~50 s and found nothing to collect."""
_gc_started = 0.0


def _log_long_collections(phase: str, info: dict[str, int]) -> None:
    global _gc_started  # noqa: PLW0603 - one collection runs at a time
    if phase == "start":
        _gc_started = time.perf_counter()
        return
    took = time.perf_counter() - _gc_started
    if took < GC_PAUSE_WARNING_S:
        return
    generation = info["generation"]
    frozen = ""
    if generation == 2:
        # what survived a slow full collection is the collector's long-lived state (books, graphs,
        # caches): freeze it, so later full collections scan only what was created since
        gc.freeze()
        frozen = f"; froze the survivors ({gc.get_freeze_count():,} objects frozen)"
    log.warning(
        "gc: generation %d collection took %.0f ms (%d collected)%s",
        generation,
        took * 1000,
        info["collected"],
        frozen,
    )


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

    with asyncio.Runner(loop_factory=_loop_factory()) as runner, contextlib.suppress(asyncio.CancelledError):
        runner.run(guarded())


def _stop(task: asyncio.Task[None], signum: int) -> None:
    log.info("%s received; stopping", signal.Signals(signum).name)
    task.cancel()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory
