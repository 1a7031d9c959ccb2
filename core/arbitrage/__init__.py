"""Real-time detection of profitable conversion cycles (A→B→C→A) inside one exchange instance."""

from core.arbitrage.engine import ArbitrageEngine
from core.arbitrage.models import Opportunity, OpportunityLeg
from core.arbitrage.observer import ArbitrageObserver
from core.arbitrage.redis_sink import RedisOpportunitySink
from core.arbitrage.settings import ArbitrageSettings, settings_for
from core.arbitrage.sink import MemorySink, OpportunitySink

__all__ = [
    "ArbitrageEngine",
    "ArbitrageObserver",
    "ArbitrageSettings",
    "MemorySink",
    "Opportunity",
    "OpportunityLeg",
    "OpportunitySink",
    "RedisOpportunitySink",
    "settings_for",
]
