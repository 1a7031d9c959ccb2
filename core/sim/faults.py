"""The exchange-neutral fault model of the simulated venues: settings, their updates and counters.

A venue subclasses :class:`FaultSettings` (``@dataclass(slots=True)``) to add its own faults. Counters
are 1-based and every-N faults fire on multiples of N (:func:`every`). Shared settings:

=========================  ===========================================================================
``latency_ms``             delay every REST response and every websocket data frame by this much
``drop_every``             drop every N-th data frame
``duplicate_every``        send every N-th data frame twice
``reorder_every``          hold every N-th data frame back and send it after the next one
``gap_every``              drop every N-th depth increment, so the venue's sequence skips one
``disconnect_after``       close the connection after N data frames
``stall_after``            after N data frames send nothing more; the socket stays open
``http_error_every``       every N-th REST request answers ``http_error_status`` (default 503)
``malformed_every``        every N-th REST request answers 200 with a truncated JSON body
=========================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(slots=True)
class FaultSettings:
    """The active fault settings; 0 disables a counter-based fault."""

    latency_ms: int = 0
    drop_every: int = 0
    duplicate_every: int = 0
    reorder_every: int = 0
    gap_every: int = 0
    disconnect_after: int = 0
    stall_after: int = 0
    http_error_every: int = 0
    http_error_status: int = 503
    malformed_every: int = 0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``{"name": int, …}``; ``{"reset": true}`` first restores the defaults.

        Raises ``ValueError`` naming an unknown fault or a value that is not a non-negative int.
        """
        if changes.get("reset"):
            for item in fields(self):
                setattr(self, item.name, item.default)
        known = {item.name for item in fields(self)}
        for name, value in changes.items():
            if name == "reset":
                continue
            if name not in known:
                raise ValueError(f"unknown fault {name!r} (known: {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"fault {name!r} needs a non-negative integer, not {value!r}")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, int]:
        """The settings as JSON-ready data."""
        return asdict(self)

    @staticmethod
    def parse_assignments(items: list[str]) -> dict[str, int]:
        """``["drop_every=3", "latency-ms=50"]`` → ``{"drop_every": 3, "latency_ms": 50}``."""
        parsed: dict[str, int] = {}
        for item in items:
            name, sep, value = item.partition("=")
            if not sep or not value.strip().isdigit():
                raise ValueError(f"fault {item!r} must look like NAME=INTEGER")
            parsed[name.strip().replace("-", "_")] = int(value)
        return parsed


def every(count: int, period: int) -> bool:
    """True when the ``count``-th event (1-based) is hit by an every-``period`` fault."""
    return period > 0 and count % period == 0
