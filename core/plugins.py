"""Loading plugins and looking up what they provide: the one typed facade over pluggy."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from typing import TypeVar

import pluggy

from core import hookspecs
from core.adapter import ExchangeAdapter
from core.config import InstanceConfig
from core.errors import PluginError
from core.hookspecs import EventObserver
from core.store.writer import StoreWriter
from core.venue import VenueFactory

log = logging.getLogger(__name__)
T = TypeVar("T")


class PluginHost:
    """The plugin manager of one process, with typed access to each hook."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._pm = manager

    @classmethod
    def load(cls, *extra_plugins: object) -> PluginHost:
        """Load every ``quotewire`` entry point (built-ins included) plus ``extra_plugins``."""
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        except Exception as exc:  # a broken third-party plugin must not hide which one it was
            raise PluginError(f"loading a quotewire plugin failed: {exc}") from exc
        for plugin in extra_plugins:
            pm.register(plugin)
        pm.check_pending()
        return cls(pm)

    @cached_property
    def adapters(self) -> Mapping[str, type[ExchangeAdapter]]:
        """Adapter classes by plugin name."""
        return self._merge("adapter", self._pm.hook.quotewire_adapters())

    @cached_property
    def venues(self) -> Mapping[str, VenueFactory]:
        """Simulated venue factories by name."""
        return self._merge("venue", self._pm.hook.quotewire_venues())

    def adapter(self, plugin: str) -> type[ExchangeAdapter]:
        """The adapter class for ``plugin`` or a :class:`PluginError` listing what is installed."""
        try:
            return self.adapters[plugin]
        except KeyError:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise PluginError(f"unknown plugin {plugin!r} (installed: {known})") from None

    def observers(
        self,
        instance: str,
        plugin: str,
        config: InstanceConfig | None = None,
        store: StoreWriter | None = None,
    ) -> list[EventObserver]:
        """Every observer plugins provide for ``instance``, configured by ``config``, writing to ``store``."""
        if config is None:
            config = InstanceConfig(name=instance, plugin=plugin)
        found = self._pm.hook.quotewire_event_observer(
            instance=instance, plugin=plugin, config=config, store=store
        )
        return [o for o in found if o is not None]

    @staticmethod
    def _merge(kind: str, results: list[Mapping[str, T]]) -> dict[str, T]:
        merged: dict[str, T] = {}
        for provided in results:
            for name, value in provided.items():
                if name in merged and merged[name] is not value:
                    raise PluginError(f"two plugins provide the {kind} {name!r}")
                merged[name] = value
        return merged
