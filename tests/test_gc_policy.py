"""The collector's garbage-collector policy: frozen survivors, a full pass that still frees cycles."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from quotewire import gc_policy

REPO = Path(__file__).resolve().parents[1]


class Node:
    """Something that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.me: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """Leave the test process's collector as it found it."""
    yield
    gc.unfreeze()


def cyclic_garbage() -> weakref.ref[Node]:
    node = Node()
    node.me = node
    return weakref.ref(node)


def test_tune_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    code = (
        "import gc; from quotewire import gc_policy; gc_policy.tune(); "
        "assert gc.get_threshold()[0] == gc_policy.GEN0_THRESHOLD > 700, gc.get_threshold(); "
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count(); "
        "assert gc_policy.log_long_collections in gc.callbacks"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


async def test_upkeep_freezes_survivors_and_its_full_pass_frees_frozen_cycles() -> None:
    task = asyncio.create_task(gc_policy.upkeep(freeze_every=0.01, full_pass_every=3600))
    try:
        gc.disable()  # no automatic collection may free the cycle before the freeze (full suite, slow box)
        frozen = gc.get_freeze_count()
        ref = cyclic_garbage()
        for _ in range(200):  # bounded, 2 s at most: until a freeze happened (on a busy box, > 50 ms)
            await asyncio.sleep(0.01)
            if gc.get_freeze_count() > frozen:
                break
        gc.collect()  # the cycle is out of every collection's sight
        assert ref() is not None
        assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
        task.cancel()
    assert gc_policy.full_pass() >= 2  # the node and its __dict__
    assert ref() is None
    assert gc.get_freeze_count() > 0  # the survivors are frozen again


async def test_upkeep_runs_the_full_pass_on_its_own() -> None:
    gc.freeze()
    ref = cyclic_garbage()
    gc.freeze()
    task = asyncio.create_task(gc_policy.upkeep(freeze_every=0.01, full_pass_every=0.03))
    try:
        for _ in range(200):  # bounded: 2 s at most
            if ref() is None:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert ref() is None


def test_long_collections_are_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A collection that holds the streams for longer than the threshold says so in the log."""
    monkeypatch.setattr(gc_policy, "PAUSE_WARNING_S", 0.0)
    gc.callbacks.append(gc_policy.log_long_collections)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(gc_policy.log_long_collections)
    assert any("gc: generation 2 collection took" in r.getMessage() for r in caplog.records)
