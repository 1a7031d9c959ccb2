"""Tuning of the API process that is not part of plugins.yaml (defaults suit production)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.clock import Clock, SystemClock


@dataclass(frozen=True)
class ApiTuning:
    """Knobs for caches and the push hub; tests shrink them to exercise the edge cases."""

    catalog_ttl: float = 5.0
    """Seconds the instance registry and symbol resolvers are cached."""
    push_queue_size: int = 1000
    """Updates queued per websocket client before conflation or disconnection."""
    push_batch_max: int = 500
    """Most updates sent in one websocket frame."""
    heartbeat_interval: float = 15.0
    """Seconds of silence after which a websocket client gets a heartbeat frame."""
    snapshot_history: int = 50
    """Trades or candles sent in a subscription's snapshot."""
    retry_after: int = 2
    """``Retry-After`` seconds sent with a 503 when Redis is unreachable."""
    hot_routes: bool = True
    """Answer the hot GET routes in :class:`api.hot.HotRoutes` before FastAPI routes them (tests do both)."""
    clock: Clock = field(default_factory=SystemClock)
