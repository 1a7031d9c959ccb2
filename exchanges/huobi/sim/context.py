"""The shared state of one simulated HTX venue: engine, clock, faults and the REST limiter."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.clock import Clock
from core.sim import MarketEngine, MarketState
from exchanges.huobi.sim.faults import Faults
from exchanges.huobi.sim.ratelimit import RequestLimiter


@dataclass(slots=True)
class VenueContext:
    """What REST handlers and websocket sessions read; only the engine writes market state."""

    engine: MarketEngine
    clock: Clock
    faults: Faults = field(default_factory=Faults)
    limiter: RequestLimiter = field(default_factory=RequestLimiter)
    rest_requests: int = 0
    by_native: dict[str, MarketState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_native = {m.spec.symbol.lower(): m for m in self.engine.markets.values()}

    def market(self, native_id: str | None) -> MarketState | None:
        """The market of an HTX id (``btcusdt``), or None."""
        return self.by_native.get(native_id or "")
