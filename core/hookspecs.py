"""The quotewire plugin hooks (pluggy project ``quotewire``, entry-point group ``quotewire``).

pluggy calls are synchronous and reach every plugin, while market-data I/O is async and goes to one
exchange; so hooks *provide* things (adapter classes, simulated venues, event observers) and core
*drives* them. Built-in adapters register through the same entry points as third-party ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from core.adapter import ExchangeAdapter
    from core.config import InstanceConfig
    from core.models import Market, Record
    from core.store.writer import StoreWriter
    from core.venue import VenueFactory

PROJECT = "quotewire"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class EventObserver(Protocol):
    """Receives every normalized record of one instance, in order, after it was stored."""

    def on_markets(self, markets: Sequence[Market]) -> None:
        """Called when the instance (re)loads its markets."""

    def on_records(self, records: Sequence[Record]) -> None:
        """Called with each batch of records; must not block (hand heavy work to a task)."""


# ---- providers ---------------------------------------------------------------------------------
@hookspec
def quotewire_adapters() -> Mapping[str, type[ExchangeAdapter]]:
    """Provide adapter classes by plugin name (the ``plugin:`` value in plugins.yaml).

    Called once, when the plugin manager is built. Every implementation's mapping is merged; a name
    provided twice is a :class:`~core.errors.PluginError`.
    """
    raise NotImplementedError


@hookspec
def quotewire_venues() -> Mapping[str, VenueFactory]:
    """Provide simulated venues by name (``quotewire sim --venue NAME``).

    Called once, when a simulated venue is to be started. Names must be unique across plugins.
    """
    raise NotImplementedError


# ---- observers ---------------------------------------------------------------------------------
@hookspec
def quotewire_event_observer(
    instance: str, plugin: str, config: InstanceConfig, store: StoreWriter | None
) -> EventObserver | None:
    """Provide an observer of the normalized events of one instance, or ``None`` to skip it.

    Called once per enabled instance when the collector starts it, with the instance's validated
    configuration (``config.options`` carries plugin-specific settings) and the collector's store
    writer (``None`` outside a collector), through which an observer writes what it derives. The
    observer is then called
    directly for every batch (not through pluggy), so observing costs no per-event hook dispatch.
    Implementations may accept only the arguments they need.
    """
    raise NotImplementedError
