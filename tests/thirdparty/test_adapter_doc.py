"""docs/writing-an-adapter.md shows the example package's code as it is, and documents every hook."""

from __future__ import annotations

import inspect

from core import hookspecs
from tests.support.thirdparty import EXAMPLE_DIR

DOC = EXAMPLE_DIR.parent.parent / "docs" / "writing-an-adapter.md"


def test_the_doc_shows_the_example_files_verbatim() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in ("pyproject.toml", "quotewire_paperex/plugin.py", "quotewire_paperex/adapter.py"):
        assert (EXAMPLE_DIR / name).read_text(encoding="utf-8").rstrip() in text, name


def test_the_doc_explains_every_hook() -> None:
    text = DOC.read_text(encoding="utf-8")
    hooks = [n for n, f in vars(hookspecs).items() if n.startswith("quotewire_") and inspect.isfunction(f)]
    assert hooks
    for name in hooks:
        assert f"`{name}(" in text, name
