"""The contract of a simulated venue: a local server that speaks one exchange's wire protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class SimulatedVenue(Protocol):
    """A running (or startable) simulated exchange on loopback."""

    name: str

    async def start(self) -> None:
        """Bind the sockets and begin publishing market data."""

    async def stop(self) -> None:
        """Close every connection and stop publishing; safe to call twice."""

    def base_urls(self) -> Mapping[str, str]:
        """The URLs a client points at, e.g. ``{"rest": "http://127.0.0.1:9001", "websocket": …}``."""
        ...

    def instance_urls(self) -> Mapping[str, str]:
        """The ``urls:`` block a quotewire instance needs to collect from this venue."""
        ...


class VenueFactory(Protocol):
    """Builds a simulated venue; no I/O until :meth:`SimulatedVenue.start`."""

    def __call__(
        self, *, host: str = "127.0.0.1", port: int = 0, seed: int = 1, symbols: int = 50, **options: Any
    ) -> SimulatedVenue: ...
