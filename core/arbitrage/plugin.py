"""The built-in arbitrage plugin: an event observer per instance (entry point ``arbitrage``)."""

from __future__ import annotations

from core.arbitrage.observer import ArbitrageObserver
from core.arbitrage.redis_sink import RedisOpportunitySink
from core.arbitrage.settings import settings_for
from core.config import InstanceConfig
from core.hookspecs import EventObserver, hookimpl
from core.store import StoreWriter


@hookimpl(trylast=True)
def quotewire_event_observer(
    instance: str, plugin: str, config: InstanceConfig, store: StoreWriter | None
) -> EventObserver | None:
    """An :class:`ArbitrageObserver` configured from the instance (fee, ``options.arbitrage``),
    writing to Redis through the collector's ``store`` and evaluating before each of its flushes
    (kept in memory and evaluated per batch outside a collector); none when arbitrage is disabled or
    runs as a service (:mod:`core.arbitrage.service`)."""
    settings = settings_for(plugin, taker_fee=config.taker_fee, options=config.options)
    if not settings.enabled or settings.runs_in == "service":
        return None  # (a service's engine runs in quotewire arbitrage)
    if store is None:
        return ArbitrageObserver(instance, settings)
    observer = ArbitrageObserver(instance, settings, sink=RedisOpportunitySink(store), deferred=True)
    store.before_flush(observer.drain)
    return observer
