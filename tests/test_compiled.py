"""The collector's hot-path modules run compiled by mypyc where ``./dev`` installed the project."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def compiled_sources() -> list[str]:
    """``setup.py``'s ``COMPILED`` list, read without running the build."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "COMPILED" for target in node.targets
        ):
            value: list[str] = ast.literal_eval(node.value)
            return value
    raise AssertionError("setup.py has no COMPILED list")


@pytest.mark.parametrize("source", compiled_sources())
def test_the_hot_path_runs_compiled(source: str) -> None:
    """``./dev`` builds them on any machine with a compiler (as CI's): a module that silently stayed
    pure Python (a mypyc error, a stale install) would make every figure of the benchmarks wrong."""
    module = importlib.import_module(source.removesuffix(".py").replace("/", "."))
    assert module.__file__ is not None
    assert module.__file__.endswith(".so"), f"{source} is not compiled ({module.__file__})"


def test_every_compiled_source_exists() -> None:
    assert all((ROOT / source).is_file() for source in compiled_sources())
