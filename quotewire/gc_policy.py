"""The garbage-collector policy of long-running processes (the collector, the simulated venues): young
collections see only recent objects.

CPython's cyclic collector scans a generation's objects and whatever they reference. The collector
allocates a record or more per frame; almost all of it dies young by reference counting, but what
survives (the newest quote of every market, book levels, arbitrage state) is promoted through the
generations and scanned again on the way. Under load in ``bench.collect`` (1,000 symbols) those
scans showed up as pauses: young collections of 50-100 ms, every second or two, that held every
stream, while finding nothing to free.

So, as :func:`tune` sets up and :func:`upkeep` keeps up:

* objects alive after start-up are frozen (``gc.freeze``) out of every later collection;
* young collections run every :data:`GEN0_THRESHOLD` allocations (CPython's default is 700);
* every :data:`FREEZE_EVERY_S` the objects that survived since are frozen too (O(1): the generation
  lists are spliced), so young collections only scan what was created within that time;
* every :data:`FULL_PASS_EVERY_S` everything is unfrozen, collected and frozen again: reference
  cycles that became garbage after being frozen (a closed connection's objects, say) are freed
  there, in one pass of about 0.1-0.3 s, instead of spread over pauses all the time.

A collection longer than :data:`PAUSE_WARNING_S` is logged.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

GEN0_THRESHOLD = 10_000
"""Allocations between young collections. At CPython's default (700) the collector ran ~100 times a
second and took ~14% of the in-process CPU (``bench/pipeline.py``: 0.22 s of 1.61 s), at 10,000 ~5%."""
FREEZE_EVERY_S = 1.0
"""How often survivors are frozen out of the young collections."""
FULL_PASS_EVERY_S = 600.0
"""How often frozen objects are collected after all (cycles that died after being frozen)."""
PAUSE_WARNING_S = 0.05
"""A collection longer than this is logged: it held every stream for that long."""

_started = 0.0


def tune() -> None:
    """Freeze the start-up objects, set the young threshold and log long collections."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, older, oldest)
    if log_long_collections not in gc.callbacks:
        gc.callbacks.append(log_long_collections)


async def upkeep(freeze_every: float = FREEZE_EVERY_S, full_pass_every: float = FULL_PASS_EVERY_S) -> None:
    """Freeze survivors every ``freeze_every`` s and run a full pass every ``full_pass_every`` s."""
    next_full = time.monotonic() + full_pass_every
    while True:
        await asyncio.sleep(freeze_every)
        if time.monotonic() >= next_full:
            next_full = time.monotonic() + full_pass_every
            full_pass()
        else:
            gc.freeze()


def full_pass() -> int:
    """Unfreeze, collect every generation and freeze the survivors; return the objects freed."""
    started = time.perf_counter()
    gc.unfreeze()
    freed = gc.collect()
    gc.freeze()
    log.info(
        "gc: full pass freed %d objects in %.0f ms; %d frozen",
        freed,
        (time.perf_counter() - started) * 1000,
        gc.get_freeze_count(),
    )
    return freed


def log_long_collections(phase: str, info: dict[str, int]) -> None:
    """A ``gc.callbacks`` entry: warn about collections longer than :data:`PAUSE_WARNING_S`."""
    global _started  # noqa: PLW0603 - one collection runs at a time
    if phase == "start":
        _started = time.perf_counter()
        return
    took = time.perf_counter() - _started
    if took >= PAUSE_WARNING_S:
        log.warning(
            "gc: generation %d collection took %.0f ms (%d collected)",
            info["generation"],
            took * 1000,
            info["collected"],
        )
