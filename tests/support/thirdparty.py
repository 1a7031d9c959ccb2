"""Installing the example third-party adapter package (``tests/thirdparty_adapter``) into this venv.

It is installed the way any outside package is, with pip (editable, no dependencies: quotewire is
already here), so its ``quotewire`` entry point is what makes quotewire find it.
"""

from __future__ import annotations

import functools
import importlib
import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution, entry_points
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "thirdparty_adapter"
EXAMPLE_PLUGIN = "paperex"
EXAMPLE_DISTRIBUTION = "quotewire-paperex"


def example_installed() -> bool:
    """True when the example's entry point is declared in this environment by an install of this
    checkout's copy (a venv shared with another checkout, since removed, may hold one of another)."""
    if not any(ep.name == EXAMPLE_PLUGIN for ep in entry_points(group="quotewire")):
        return False
    try:
        origin = json.loads(distribution(EXAMPLE_DISTRIBUTION).read_text("direct_url.json") or "{}")
    except (PackageNotFoundError, ValueError):
        return False
    url = origin.get("url", "") if isinstance(origin, dict) else ""
    return isinstance(url, str) and url == EXAMPLE_DIR.as_uri()


@functools.cache
def ensure_example_installed() -> None:
    """``pip install --no-deps -e tests/thirdparty_adapter`` unless it is installed already."""
    if not example_installed():
        base = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check"]
        offline = subprocess.run(
            [*base, "--no-build-isolation", "-e", str(EXAMPLE_DIR)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if offline.returncode != 0:  # no setuptools in the venv: let pip fetch a build backend
            subprocess.run([*base, "-e", str(EXAMPLE_DIR)], check=True, capture_output=True, timeout=300)
        importlib.invalidate_caches()
    # an editable install takes effect at the next interpreter start (a .pth file); this one imports
    # the package from its source directory, which is what that .pth file maps it to
    if str(EXAMPLE_DIR) not in sys.path:
        sys.path.append(str(EXAMPLE_DIR))
    if not example_installed():
        raise RuntimeError(f"installing {EXAMPLE_DIR} did not declare the {EXAMPLE_PLUGIN!r} entry point")
