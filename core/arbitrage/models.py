"""What the engine reports: a profitable conversion cycle and its legs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.decimals import ExactDecimal
from core.models import Frozen


class OpportunityLeg(Frozen):
    """One conversion: trade ``amount`` of the market's base at the size-weighted ``price``."""

    symbol: str = Field(description="unified BASE/QUOTE", examples=["ETH/BTC"])
    side: Literal["buy", "sell"] = Field(description="buy base at the ask, or sell base at the bid")
    price: ExactDecimal = Field(description="size-weighted average price over the book levels used")
    amount: ExactDecimal = Field(description="base amount traded, rounded down to the lot size")


class Opportunity(Frozen):
    """A cycle A→B→…→A of one instance that returns more than the threshold.

    Returns are ratios (``0.0012`` is 0.12 %) at the executable size: ``gross_return`` is from the
    leg prices only, ``net_return`` also pays the taker fee on every leg and loses lot-size dust.
    """

    instance: str
    id: str = Field(description="stable key of the cycle: its legs as SYMBOL:side, comma-separated")
    path: tuple[str, ...] = Field(
        description="assets from the start back to it", examples=[["USDT", "BTC", "ETH", "USDT"]]
    )
    legs: tuple[OpportunityLeg, ...]
    gross_return: ExactDecimal
    net_return: ExactDecimal
    size: ExactDecimal = Field(description="executable amount of the start asset")
    size_usd: ExactDecimal | None = Field(description="``size`` in USD via a USD-ish market, if one is known")
    oldest_quote_age_ms: int = Field(description="age of the oldest quote used, at detection")
    detected_at: int = Field(description="when this evaluation was made, Unix ms")
    stale: bool = Field(description="the oldest quote used is older than the stale threshold")
