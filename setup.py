"""Build of the optional native parts; everything else is in pyproject.toml.

All are optional: without a C compiler (or without mypyc) the install still succeeds and the same
Python code runs.

* ``exchanges.binance._levels``: the native side of the Binance local book (see
  exchanges/binance/levels.py);
* ``core.store._resp``: the store's Redis commands packed into RESP (see core/store/resp.py);
* ``core._records``: records assembled without validation (see core/records.py);
* the modules every stream frame passes through (:data:`COMPILED`), compiled to C by mypyc from
  the same strictly typed sources mypy checks. ``QUOTEWIRE_PURE_PYTHON=1`` skips them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup

COMPILED = [
    "core/decimals.py",
    "core/records.py",
    "core/store/codec.py",
    "core/store/writer.py",
    "core/collector/sink.py",
    "core/arbitrage/book.py",
    "core/arbitrage/engine.py",
    "core/arbitrage/observer.py",
    "exchanges/binance/book.py",
    "exchanges/binance/parsers.py",
    "exchanges/binance/frames.py",
    "core/sim/units.py",
    "core/sim/book.py",
    "core/sim/candles.py",
    "core/sim/engine.py",
    "exchanges/binance/sim/codec.py",
    "exchanges/binance/sim/streams.py",
]
"""The collector's hot path (compiled, 10-15% less in-process CPU per frame in ``bench.pipeline``),
then the simulated market and Binance venue (40.7 -> 30.7 µs per frame sent at the paced mix: the
load generator of ``bench.collect`` shares a core with Redis). A module with an async generator
(``exchanges/binance/streams.py``) cannot be: its per-frame part is in ``frames.py``. Compiling the
whole module (its generator moved out) crashed the interpreter in a connection test."""


PACKAGES = ("core", "exchanges", "api", "quotewire")
"""Where compiled leftovers are looked for (the C extensions have no ``.py`` of their name)."""


def compiled_modules() -> list[Extension]:
    """mypyc's extensions for :data:`COMPILED` (shared runtime in ``core``), or none.

    mypyc type-checks the modules first, so it needs the project's dependencies installed: ``./dev``
    installs them, then builds again without build isolation (an isolated build has no mypyc and
    leaves the modules pure Python).
    """
    reason = ""
    if os.environ.get("QUOTEWIRE_PURE_PYTHON"):
        reason = "QUOTEWIRE_PURE_PYTHON is set"
    else:
        try:
            from mypyc.build import mypycify  # only a build with mypyc compiles

            extensions = mypycify(COMPILED, opt_level="3", group_name="core._compiled")
        except ImportError:
            reason = "mypyc is not installed"
        except (Exception, SystemExit) as exc:  # mypyc exits on a type error; the Python modules run
            reason = f"mypyc failed ({exc!r})"
        else:
            for extension in extensions:
                extension.optional = True
            _remove_stale_builds(keep=COMPILED)
            return extensions
    print(f"{reason}: the collector's hot path stays pure Python", file=sys.stderr)
    _remove_stale_builds(keep=[])
    for built in (Path(__file__).parent / "core").glob("_compiled__mypyc.cpython-*.so"):
        built.unlink()
    return []


def _remove_stale_builds(keep: list[str]) -> None:
    """Delete the compiled module an earlier build left beside a source not in ``keep`` (no longer
    compiled, or not this time): Python would import it instead of the (possibly edited) ``.py``."""
    here = Path(__file__).parent
    for package in PACKAGES:
        for source in (here / package).rglob("*.py"):
            if source.relative_to(here).as_posix() not in keep:
                for built in source.parent.glob(f"{source.stem}.cpython-*.so"):
                    built.unlink()


setup(
    ext_modules=[
        Extension(
            "exchanges.binance._levels",
            sources=["exchanges/binance/_levels.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "core.store._resp",
            sources=["core/store/_resp.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "core._records",
            sources=["core/_records.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        *compiled_modules(),
    ]
)
