"""Meta-tests: the package boundaries and the plugin contract cannot rot."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import hookspecs

REPO = Path(__file__).resolve().parent.parent


def imports_of(package: str) -> Iterator[tuple[Path, str]]:
    """Every (file, imported module) of a top-level package."""
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(REPO)} imports {module}"
        for path, module in imports_of(package)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    ]


def test_core_imports_nothing_from_exchanges_or_api() -> None:
    assert offending("core", ("exchanges", "api", "quotewire")) == []


def test_api_never_imports_adapters_or_ccxt() -> None:
    assert offending("api", ("exchanges", "ccxt", "quotewire")) == []


@pytest.mark.parametrize("exchange", ["binance", "huobi", "ccxt_generic"])
def test_an_exchange_imports_only_core(exchange: str) -> None:
    others = tuple(
        f"exchanges.{p.name}" for p in (REPO / "exchanges").iterdir() if p.is_dir() and p.name != exchange
    )
    assert offending(f"exchanges/{exchange}", ("api", "quotewire", *others)) == []


def hookspec_functions() -> list[str]:
    return [
        name
        for name, obj in vars(hookspecs).items()
        if name.startswith("quotewire_") and inspect.isfunction(obj)
    ]


def test_hooks_carry_the_project_prefix_and_are_documented() -> None:
    names = hookspec_functions()
    assert names, "no hookspecs found"
    for name in names:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert "Called" in doc, f"{name}: the docstring must say when it is called"


def test_every_hook_is_exercised_by_a_test() -> None:
    sources = "".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("test_*.py"))
    for name in hookspec_functions():
        short = name.removeprefix("quotewire_")
        assert name in sources or short in sources, f"no test mentions the hook {name}"
