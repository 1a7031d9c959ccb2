"""Faults the simulated HTX venue injects on demand, counted so tests can predict them exactly.

The shared settings (latency, drop, duplicate, reorder, gap, disconnect, stall, REST errors and
malformed bodies) are those of :mod:`core.sim.faults`. Websocket counters are per connection and count
the data frames that connection would have received (acks, pings and ``req`` replies excluded): with
``drop_every=3`` frames 3, 6, 9 … are never sent; ``gap_every`` counts ``mbp`` increments, so the next
``prevSeqNum`` skips one. REST counters count requests to the market endpoints on the whole venue.
HTX's own:

=========================  =========================================================================
``no_heartbeat``           1: send no ``{"ping": ts}`` and never drop a client for missing pongs
``malformed_gzip_every``   every N-th data frame is a binary frame that is not valid gzip
``malformed_json_every``   every N-th data frame is valid gzip of truncated JSON
``error_envelope_every``   every N-th REST request answers 200 with HTX's ``gateway-internal-error``
                           envelope (``{"status": "error", "err-code": …, "err-msg": …}``)
``request_limit``          market-data requests per IP per ``limit_window_s`` seconds (HTX: 100 per 10)
=========================  =========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from core.sim.faults import FaultSettings


@dataclass(slots=True)
class Faults(FaultSettings):
    """The active fault settings of an HTX venue; 0 disables a counter-based fault."""

    no_heartbeat: int = 0
    malformed_gzip_every: int = 0
    malformed_json_every: int = 0
    error_envelope_every: int = 0
    request_limit: int = 100
    limit_window_s: int = 10
