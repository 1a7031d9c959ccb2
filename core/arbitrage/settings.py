"""Settings of the arbitrage engine: defaults, venue fee standards, per-instance overrides."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.decimals import ExactDecimal, to_decimal
from core.errors import ConfigError

STANDARD_TAKER_FEES: Mapping[str, Decimal] = {
    "binance": Decimal("0.001"),
    "huobi": Decimal("0.002"),
    "htx": Decimal("0.002"),
}
"""The venue's standard (no discount, no VIP tier) spot taker fee, by plugin name."""

FALLBACK_TAKER_FEE = Decimal("0.002")
"""Used for a plugin without a known standard: on the high side, so it hides rather than invents."""


class ArbitrageSettings(BaseModel):
    """How one instance's engine detects and reports cycles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    runs_in: Literal["collector", "service"] = Field(
        "collector",
        description="collector: an observer in quotewire collect's event loop; service: quotewire arbitrage,"
        " a process of its own fed from Redis (quotewire up starts it)",
    )
    taker_fee: ExactDecimal = Field(FALLBACK_TAKER_FEE, ge=0, lt=1, description="taker fee per leg")
    min_net_return: ExactDecimal = Field(
        Decimal(0), description="report cycles whose net return (after fees) is above this ratio"
    )
    max_legs: int = Field(3, ge=3, le=5, description="longest cycle: 3 (triangles), 4 or 5")
    stale_after_ms: int = Field(5000, gt=0, description="a leg older than this flags the opportunity")
    use_event_time: bool = Field(
        False, description="age quotes by the exchange's event time instead of our receive time"
    )
    preferred_starts: tuple[str, ...] = Field(
        ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB"),
        description="a cycle is reported from the first of these it contains, else its smallest asset",
    )
    usd_assets: tuple[str, ...] = Field(
        ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD"),
        description="assets valued 1:1 in USD, in the order tried for the USD size",
    )
    screen_epsilon: float = Field(
        1e-9, gt=0, le=1e-3, description="float screen slack, in log-return units (keeps it conservative)"
    )


def settings_for(
    plugin: str, *, taker_fee: str | None = None, options: Mapping[str, Any] | None = None
) -> ArbitrageSettings:
    """Settings of one instance: defaults, the venue's standard fee, the instance's ``taker_fee``,
    then ``options['arbitrage']`` (which wins)."""
    fee = STANDARD_TAKER_FEES.get(plugin.lower(), FALLBACK_TAKER_FEE)
    if taker_fee is not None:
        try:
            fee = to_decimal(taker_fee)
        except ValueError as exc:
            raise ConfigError(f"taker_fee: {exc}") from None
    overrides = (options or {}).get("arbitrage", {})
    if not isinstance(overrides, Mapping):
        raise ConfigError("options.arbitrage: expected a mapping of arbitrage settings")
    try:
        return ArbitrageSettings.model_validate({"taker_fee": fee, **overrides})
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ConfigError(f"options.arbitrage.{where}: {error['msg']}") from None
