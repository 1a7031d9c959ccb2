"""The REST budget planner: which endpoint each polled channel uses and how often it can afford to.

The plan is computed once per instance at start-up from the venue's published limit
(:attr:`Capabilities.rate_limit`), the instance's ``rate_limit_share`` and the endpoint weights the
adapter declares. When the configured cadence does not fit, every channel is stretched by the same
factor (*degrades evenly*) instead of some channels starving at random. A share of the budget
(:data:`RESERVE`) is left for K-line backfill and reconnect snapshots.

Endpoint names (keys of ``Capabilities.endpoint_weights``): ``ticker``/``ticker_all``,
``book_ticker``/``book_ticker_all``, ``price``/``price_all``, ``depth:<limit>``, ``trades``,
``klines``, ``markets`` (loading the market list) — or the REST paths with tiers that
:class:`EndpointWeights` also reads. A missing key costs ``endpoint_weights["default"]`` or 1.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from core.capabilities import Capabilities
from core.intervals import Interval
from core.models import Channel

RESERVE = 0.1
"""Share of the instance's budget kept free of polling, for backfill and resyncs."""


class EndpointWeights:
    """Weights by endpoint name, with sensible defaults for names the adapter did not declare.

    Two naming schemes are understood: the collector's (``ticker``, ``ticker_all``, ``depth:<limit>``)
    and REST paths with tiers (``ticker/24hr``, ``ticker/24hr:21-100``, ``ticker/24hr:all``,
    ``depth:100`` meaning "a limit up to 100").
    """

    def __init__(self, weights: Mapping[str, int]) -> None:
        self._weights = {k: max(1, int(v)) for k, v in weights.items()}
        self.default = self._weights.get("default", 1)
        self._depth_buckets = sorted(
            (int(k.split(":", 1)[1]), w) for k, w in self._weights.items() if _is_depth_bucket(k)
        )

    def __getitem__(self, endpoint: str) -> int:
        found = self._weights.get(endpoint)
        if found is not None:
            return found
        if _is_depth_bucket(endpoint):
            return self.depth(int(endpoint.split(":", 1)[1]))[1]
        return self._weights.get(endpoint.split(":", 1)[0], self.default)

    def depth(self, limit: int) -> tuple[str, int]:
        """Name and weight of a depth snapshot of ``limit`` levels (smallest bucket that holds it)."""
        name = f"depth:{limit}"
        if name in self._weights:
            return name, self._weights[name]
        for bucket, weight in self._depth_buckets:
            if bucket >= limit:
                return name, weight
        if self._depth_buckets:
            return name, self._depth_buckets[-1][1]
        return name, self._weights.get("depth", self.default)

    def single(self, channel: Channel) -> tuple[str, int]:
        """Name and weight of a one-symbol call of a ticker-like channel."""
        aliases = _ALIASES[channel]
        for alias in aliases:
            if alias in self._weights:
                return alias, self._weights[alias]
        return aliases[0], self.default

    def bulk(self, channel: Channel, symbols: int) -> tuple[str, int]:
        """Name and weight of one call covering ``symbols`` symbols of a ticker-like channel."""
        aliases = _ALIASES[channel]
        mine = f"{aliases[0]}_all"
        if mine in self._weights:
            return mine, self._weights[mine]
        for alias in aliases:
            tiers = sorted(
                (low, high, w)
                for k, w in self._weights.items()
                if k.startswith(f"{alias}:") and (bounds := _tier(k.split(":", 1)[1])) is not None
                for low, high in [bounds]
            )
            for low, high, weight in tiers:
                if low <= symbols <= high:
                    return f"{alias}:{low}-{high}", weight
            if tiers and symbols < tiers[0][0] and alias in self._weights:
                return alias, self._weights[alias]
            if f"{alias}:all" in self._weights:
                return f"{alias}:all", self._weights[f"{alias}:all"]
        return mine, self.default


_ALIASES: Mapping[Channel, tuple[str, ...]] = {
    Channel.TICKER: ("ticker", "ticker/24hr"),
    Channel.QUOTE: ("book_ticker", "ticker/bookTicker"),
    Channel.PRICE: ("price", "ticker/price"),
}


def _is_depth_bucket(name: str) -> bool:
    head, sep, tail = name.partition(":")
    return head == "depth" and bool(sep) and tail.isdigit()


def _tier(text: str) -> tuple[int, int] | None:
    low, sep, high = text.partition("-")
    if sep and low.isdigit() and high.isdigit():
        return int(low), int(high)
    return None


@dataclass(frozen=True)
class ChannelPlan:
    """How one channel is polled: endpoint, calls and weight per cycle, effective cadence in seconds."""

    channel: Channel
    endpoint: str
    bulk: bool
    calls_per_cycle: int
    weight_per_call: int
    cadence: float

    @property
    def weight_per_cycle(self) -> int:
        return self.calls_per_cycle * self.weight_per_call

    @property
    def calls_per_minute(self) -> float:
        return self.calls_per_cycle * 60.0 / self.cadence

    @property
    def weight_per_minute(self) -> float:
        return self.weight_per_cycle * 60.0 / self.cadence


@dataclass(frozen=True)
class BudgetPlan:
    """The polling plan of one instance."""

    channels: Mapping[Channel, ChannelPlan]
    requested_cadence: float
    stretch: float
    budget_per_minute: float | None
    unit: str

    @property
    def fits(self) -> bool:
        """True when every channel keeps the configured cadence."""
        return self.stretch <= 1.0

    @property
    def weight_per_minute(self) -> float:
        return sum(p.weight_per_minute for p in self.channels.values())

    def cadence(self, channel: Channel) -> float:
        """Seconds between two polling cycles of ``channel``."""
        return self.channels[channel].cadence

    def describe(self, instance: str, streamed: Collection[Channel] = ()) -> list[str]:
        """Human-readable lines: one header and one per channel (``streamed`` ones poll only as fallback)."""
        budget = f"{self.budget_per_minute:,.0f} {self.unit}/min" if self.budget_per_minute else "unlimited"
        verdict = "fits" if self.fits else f"does not fit: every cadence stretched x{self.stretch:.2f}"
        lines = [
            f"{instance}: REST plan at {self.requested_cadence:g}s cadence, budget {budget} "
            f"({self.weight_per_minute:,.0f} planned): {verdict}"
        ]
        for plan in self.channels.values():
            kind = "bulk" if plan.bulk else "per-call"
            role = "  (only while the stream is down)" if plan.channel in streamed else ""
            lines.append(
                f"{instance}:   {plan.channel.value:<7} {plan.endpoint:<16} {kind:<8} "
                f"{plan.calls_per_minute:9,.1f} calls/min {plan.weight_per_minute:10,.1f} {self.unit}/min "
                f"every {plan.cadence:.2f}s{role}"
            )
        return lines


def budget_per_minute(capabilities: Capabilities, share: float) -> float | None:
    """The instance's share of the venue limit, per minute (``None`` when the venue publishes none)."""
    limit = capabilities.rate_limit
    if limit is None:
        return None
    return limit.limit * share * 60.0 / limit.window_seconds


def plan_polling(
    capabilities: Capabilities,
    *,
    channels: Collection[Channel],
    symbols: int,
    intervals: Sequence[Interval],
    depth_limit: int,
    cadence: float,
    share: float,
    bulk_channels: Collection[Channel] = (),
    reserve: float = RESERVE,
) -> BudgetPlan:
    """Plan polling ``channels`` for ``symbols`` symbols every ``cadence`` seconds within the budget.

    ``bulk_channels`` are the channels whose adapter has an all-symbols endpoint; it is used when it
    costs no more weight than one call per symbol.
    """
    weights = EndpointWeights(capabilities.endpoint_weights)
    requests_only = capabilities.rate_limit is not None and capabilities.rate_limit.unit == "requests"
    drafts: list[tuple[Channel, str, bool, int, int]] = []
    for channel in (c for c in Channel if c in channels):
        endpoint, bulk, calls, weight = _endpoint_for(
            channel,
            weights,
            symbols * (len(intervals) if channel is Channel.KLINE else 1),
            depth_limit,
            has_bulk=channel in bulk_channels,
        )
        drafts.append((channel, endpoint, bulk, calls, 1 if requests_only else weight))
    per_minute = sum(calls * weight * 60.0 / cadence for _, _, _, calls, weight in drafts)
    budget = budget_per_minute(capabilities, share)
    usable = None if budget is None else budget * (1.0 - reserve)
    stretch = 1.0 if usable is None or per_minute <= usable else per_minute / usable
    planned = {
        channel: ChannelPlan(channel, endpoint, bulk, calls, weight, cadence * stretch)
        for channel, endpoint, bulk, calls, weight in drafts
    }
    unit = capabilities.rate_limit.unit if capabilities.rate_limit else "weight"
    return BudgetPlan(planned, cadence, stretch, budget, unit)


def _endpoint_for(
    channel: Channel, weights: EndpointWeights, series: int, depth_limit: int, *, has_bulk: bool
) -> tuple[str, bool, int, int]:
    """``(endpoint, bulk, calls per cycle, weight per call)`` of polling ``channel`` once.

    ``series`` is the number of symbols (of (symbol, interval) pairs for K-lines).
    """
    if channel in _ALIASES:
        single_name, single_weight = weights.single(channel)
        if has_bulk:
            bulk_name, bulk_weight = weights.bulk(channel, series)
            if bulk_weight <= single_weight * series:
                return bulk_name, True, 1, bulk_weight
        return single_name, False, series, single_weight
    if channel is Channel.DEPTH:
        name, weight = weights.depth(depth_limit)
        return name, False, series, weight
    if channel is Channel.TRADES:
        return "trades", False, series, weights["trades"]
    return "klines", False, series, weights["klines"]
