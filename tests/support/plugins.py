"""Loading the plugin host in tests, with plugins whose entry point may not be declared yet."""

from __future__ import annotations

from importlib.metadata import entry_points
from types import ModuleType

from core.plugins import PluginHost


def load_host(*modules: ModuleType) -> PluginHost:
    """``PluginHost.load()`` plus each of ``modules`` not already loaded through an entry point."""
    declared = {ep.value for ep in entry_points(group="quotewire")}
    return PluginHost.load(*(m for m in modules if m.__name__ not in declared))
