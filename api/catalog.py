"""Which instances exist and which symbols they carry, cached briefly to spare Redis round trips."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from api.errors import UnknownInstanceError
from core.clock import Clock
from core.errors import UnknownSymbolError
from core.store import StoreReader
from core.symbols import SymbolResolver


@dataclass
class _Entry:
    value: Any
    loaded: float


LOCATED_MAX = 10_000
"""Most ``(instance, spelling)`` resolutions remembered; the memo starts over when full."""


class Catalog:
    """Resolves instance names and symbol spellings against the store, with a short TTL cache."""

    def __init__(self, reader: StoreReader, clock: Clock, ttl: float) -> None:
        self._reader = reader
        self._clock = clock
        self._ttl = ttl
        self._instances: _Entry | None = None
        self._resolvers: dict[str, _Entry] = {}
        self._located: dict[tuple[str, str], _Entry] = {}

    def _fresh(self, entry: _Entry | None, max_age: float) -> bool:
        return entry is not None and self._clock.monotonic() - entry.loaded < max_age

    async def instances(self, *, max_age: float | None = None) -> dict[str, dict[str, Any]]:
        """The registered instances and their metadata."""
        if not self._fresh(self._instances, self._ttl if max_age is None else max_age):
            self._instances = _Entry(await self._reader.instances(), self._clock.monotonic())
        assert self._instances is not None
        value: dict[str, dict[str, Any]] = self._instances.value
        return value

    async def instance(self, name: str) -> str:
        """``name`` if registered, else :class:`UnknownInstanceError` with close matches."""
        known = await self.instances()
        if name in known:
            return name
        known = await self.instances(max_age=1.0)  # a new instance may have registered since
        if name in known:
            return name
        close = difflib.get_close_matches(name, list(known), n=5, cutoff=0.5)
        raise UnknownInstanceError(f"unknown instance {name!r}", suggestions=tuple(close))

    async def resolver(self, instance: str, *, max_age: float | None = None) -> SymbolResolver:
        """The symbol resolver of a (registered) instance."""
        entry = self._resolvers.get(instance)
        if not self._fresh(entry, self._ttl if max_age is None else max_age):
            entry = _Entry(
                SymbolResolver(await self._reader.market_symbols(instance)), self._clock.monotonic()
            )
            self._resolvers[instance] = entry
        assert entry is not None
        resolver: SymbolResolver = entry.value
        return resolver

    async def symbol(self, instance: str, text: str) -> str:
        """The unified symbol ``text`` spells on ``instance``; raises with suggestions if none."""
        try:
            return (await self.resolver(instance)).resolve(text)
        except UnknownSymbolError:
            return (await self.resolver(instance, max_age=1.0)).resolve(text)

    async def locate(self, instance: str, text: str) -> str:
        """The unified symbol ``text`` spells on the registered ``instance``; raises like
        :meth:`instance` and :meth:`symbol`.

        A hit is remembered until the older of the two cache entries it came from expires, so a
        request for a known spelling costs one dictionary lookup and never more staleness.
        """
        key = (instance, text)
        hit = self._located.get(key)
        if hit is not None and self._clock.monotonic() - hit.loaded < self._ttl:
            found: str = hit.value
            return found
        name = await self.instance(instance)
        unified = await self.symbol(name, text)
        assert self._instances is not None
        loaded = min(self._instances.loaded, self._resolvers[name].loaded)
        if len(self._located) >= LOCATED_MAX:
            self._located.clear()
        self._located[key] = _Entry(unified, loaded)
        return unified

    async def carriers(self, text: str) -> dict[str, str]:
        """Instance → unified symbol, for every instance whose markets include ``text``."""
        found: dict[str, str] = {}
        suggestions: list[str] = []
        for name in sorted(await self.instances()):
            resolver = await self.resolver(name)
            try:
                found[name] = resolver.resolve(text)
            except UnknownSymbolError as exc:
                suggestions += [s for s in exc.suggestions if s not in suggestions]
        if not found:
            raise UnknownSymbolError(
                f"no instance carries symbol {text!r}", symbol=text, suggestions=tuple(suggestions[:5])
            )
        return found
