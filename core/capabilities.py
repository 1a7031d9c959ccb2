"""What an adapter can do, declared as data."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from core.intervals import ALL_INTERVALS, Interval
from core.models import ALL_CHANNELS, Channel, Frozen


class RateLimit(Frozen):
    """A venue's published REST limit: ``limit`` units of ``unit`` per ``window_seconds``."""

    unit: str = Field("weight", description="what is counted: 'weight' or 'requests'")
    limit: int
    window_seconds: float = 60.0


class Capabilities(Frozen):
    """The channels, intervals and sizes an adapter serves, and the limits it must respect."""

    channels: frozenset[Channel] = frozenset(ALL_CHANNELS)
    stream_channels: frozenset[Channel] = Field(
        frozenset(), description="channels the venue pushes over websockets"
    )
    intervals: tuple[Interval, ...] = ALL_INTERVALS
    depth_levels: tuple[int, ...] = (5, 10, 20, 50, 100)
    max_klines_per_request: int = 500
    max_trades_per_request: int = 500
    rate_limit: RateLimit | None = None
    endpoint_weights: Mapping[str, int] = Field(
        default_factory=dict, description="REST weight per endpoint name, for the budget planner"
    )
    utc_offset_ms: int = Field(0, description="offset the venue aligns daily and longer candles to")

    def nearest_depth(self, levels: int) -> int:
        """The smallest supported depth that is at least ``levels`` (or the largest there is)."""
        fitting = [d for d in sorted(self.depth_levels) if d >= levels]
        return fitting[0] if fitting else max(self.depth_levels)
