"""Faults the simulated Binance venue injects on demand, counted so tests can predict them exactly.

The shared settings (latency, drop, duplicate, reorder, gap, disconnect, stall, REST errors and
malformed bodies) are those of :mod:`core.sim.faults`. Every websocket counter is per connection and
counts the data frames that connection would have received (acks and pings excluded): with
``drop_every=3`` frames 3, 6, 9 … are never sent. ``gap_every`` counts depth diff events (``@depth…``).
REST counters count requests to ``/api/v3`` on the whole venue; an injected 429 or 418 comes as Binance
sends it: ``{"code": -1003, …}`` with ``Retry-After``. Binance's own:

=========================  ===========================================================================
``malformed_frame_every``  every N-th data frame carries truncated (invalid) JSON
``retry_after``            the ``Retry-After`` seconds of those injected 429/418 answers (default 1)
``weight_limit``           REQUEST_WEIGHT per minute (Binance: 6000)
``refuse_connections``     the next N websocket handshakes are answered HTTP 503 (counts down)
=========================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from core.sim.faults import FaultSettings


@dataclass(slots=True)
class Faults(FaultSettings):
    """The active fault settings of a Binance venue; 0 disables a counter-based fault."""

    malformed_frame_every: int = 0
    retry_after: int = 1
    weight_limit: int = 6000
    refuse_connections: int = 0

    @property
    def ws_active(self) -> bool:
        """True when any websocket frame fault is set (the fast path is skipped then)."""
        return bool(
            self.latency_ms
            or self.drop_every
            or self.duplicate_every
            or self.reorder_every
            or self.malformed_frame_every
            or self.disconnect_after
            or self.stall_after
        )

    @property
    def quiet(self) -> bool:
        """True when no websocket fault is set, counting ``gap_every``: frames go out untouched."""
        return not self.gap_every and not self.ws_active
