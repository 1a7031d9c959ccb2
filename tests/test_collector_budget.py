"""The budget planner, the REST limiter and backoff — driven by a manual clock, never sleeping."""

from __future__ import annotations

import asyncio
import random

import pytest

from core.capabilities import Capabilities, RateLimit
from core.collector.backoff import Backoff
from core.collector.budget import BudgetPlan, EndpointWeights, plan_polling
from core.collector.limiter import RateLimiter, read_used_weight
from core.errors import RateLimitedError
from core.intervals import ALL_INTERVALS
from core.models import ALL_CHANNELS, Channel
from tests.support.collector import ManualClock

BINANCE_LIKE = Capabilities(
    rate_limit=RateLimit(limit=6000, window_seconds=60),
    endpoint_weights={
        "ticker": 2, "ticker_all": 80, "book_ticker": 2, "book_ticker_all": 4, "price": 2,
        "price_all": 4, "depth:20": 5, "depth": 25, "trades": 25, "klines": 2,
    },
)  # fmt: skip
BULK = {Channel.TICKER, Channel.QUOTE, Channel.PRICE}


def plan(
    symbols: int, cadence: float = 1.0, share: float = 0.8, caps: Capabilities = BINANCE_LIKE
) -> BudgetPlan:
    return plan_polling(
        caps, channels=ALL_CHANNELS, symbols=symbols, intervals=ALL_INTERVALS, depth_limit=20,
        cadence=cadence, share=share, bulk_channels=BULK,
    )  # fmt: skip


def test_a_small_instance_fits_at_the_configured_cadence() -> None:
    result = plan(1, cadence=5.0)
    assert result.fits
    assert all(p.cadence == 5.0 for p in result.channels.values())
    # 1 symbol: ticker per call (2) beats the all-symbol endpoint (80); quotes and prices too (2 <= 4)
    assert result.channels[Channel.TICKER].endpoint == "ticker"
    assert result.channels[Channel.QUOTE].endpoint == "book_ticker"
    # per cycle: 2 + 2 + 2 + depth 5 + trades 25 + 8 intervals x 2
    assert sum(p.weight_per_cycle for p in result.channels.values()) == 52
    assert result.weight_per_minute == pytest.approx(52 * 12)


def test_bulk_endpoints_are_preferred_when_they_cost_less() -> None:
    result = plan(50, cadence=60.0)
    assert result.channels[Channel.TICKER].endpoint == "ticker_all"  # 80 < 50 x 2
    assert result.channels[Channel.TICKER].calls_per_cycle == 1
    assert result.channels[Channel.PRICE].bulk
    assert result.channels[Channel.DEPTH].calls_per_cycle == 50
    assert result.channels[Channel.KLINE].calls_per_cycle == 400


def test_a_plan_that_does_not_fit_stretches_every_channel_by_the_same_factor() -> None:
    result = plan(100, cadence=1.0)
    assert not result.fits
    usable = 6000 * 0.8 * 0.9
    assert result.weight_per_minute == pytest.approx(usable)  # exactly the usable budget
    ratios = {p.cadence / 1.0 for p in result.channels.values()}
    assert len(ratios) == 1 and ratios.pop() == pytest.approx(result.stretch)
    lines = result.describe("binance")
    assert "does not fit" in lines[0] and len(lines) == 1 + len(ALL_CHANNELS)
    assert any("klines" in line and "calls/min" in line for line in lines)


def test_more_share_means_less_stretch() -> None:
    assert plan(100, share=1.0).stretch < plan(100, share=0.5).stretch


def test_missing_weights_default_sensibly() -> None:
    weights = EndpointWeights({"depth": 10, "default": 3})
    assert weights["depth:100"] == 10  # falls back to the unsized endpoint
    assert weights["klines"] == 3
    assert EndpointWeights({})["anything"] == 1
    caps = Capabilities(rate_limit=RateLimit(unit="requests", limit=100, window_seconds=10))
    result = plan(2, cadence=1.0, caps=caps)
    assert all(p.weight_per_call == 1 for p in result.channels.values())
    assert result.budget_per_minute == pytest.approx(100 * 0.8 * 6)


BINANCE_PATHS = Capabilities(
    rate_limit=RateLimit(limit=6000, window_seconds=60),
    endpoint_weights={
        "ticker/24hr": 2, "ticker/24hr:21-100": 40, "ticker/24hr:all": 80, "ticker/bookTicker": 2,
        "ticker/bookTicker:all": 4, "ticker/price": 2, "ticker/price:all": 4, "depth:100": 5,
        "depth:500": 25, "klines": 2, "trades": 25,
    },
)  # fmt: skip


@pytest.mark.parametrize(
    ("symbols", "ticker_weight"), [(1, 2), (10, 2), (50, 40), (100, 40), (101, 80), (2000, 80)]
)
def test_rest_path_names_with_tiers_are_understood(symbols: int, ticker_weight: int) -> None:
    result = plan(symbols, cadence=600.0, caps=BINANCE_PATHS)
    ticker = result.channels[Channel.TICKER]
    assert ticker.bulk and ticker.weight_per_call == ticker_weight
    assert result.channels[Channel.QUOTE].weight_per_call == (2 if symbols == 1 else 4)
    assert result.channels[Channel.DEPTH].weight_per_call == 5  # 20 levels: the "up to 100" bucket
    assert EndpointWeights(BINANCE_PATHS.endpoint_weights)["depth:200"] == 25


def test_the_plan_marks_streamed_channels_as_fallback() -> None:
    lines = plan(5).describe("binance", streamed={Channel.DEPTH})
    assert sum("only while the stream is down" in line for line in lines) == 1


def test_used_weight_is_read_from_a_property_or_a_method() -> None:
    class Prop:
        @property
        def used_weight(self) -> int | None:
            return 17

    class Method:
        def used_weight(self) -> int | None:
            return 18

    assert read_used_weight(Prop()) == 17
    assert read_used_weight(Method()) == 18
    assert read_used_weight(object()) is None


def test_no_published_limit_never_stretches() -> None:
    result = plan(1000, caps=Capabilities())
    assert result.fits and result.budget_per_minute is None


async def test_the_limiter_keeps_every_window_under_budget() -> None:
    clock = ManualClock()
    limiter = RateLimiter(100, 60.0, clock)
    spent: list[tuple[float, int]] = []
    for _ in range(30):
        await limiter.acquire(10)
        spent.append((clock.monotonic(), 10))
    for start, _ in spent:
        assert sum(w for t, w in spent if start <= t < start + 60.0) <= 100
    assert clock.t >= 120.0  # 300 weight at 100 per minute needs two more windows
    assert limiter.waits > 0


async def test_the_limiter_serves_waiting_callers_in_order() -> None:
    clock = ManualClock()
    limiter = RateLimiter(10, 1.0, clock)
    order: list[int] = []

    async def call(i: int) -> None:
        await limiter.acquire(10)
        order.append(i)

    async with asyncio.TaskGroup() as group:
        for i in range(5):
            group.create_task(call(i))
    assert order == [0, 1, 2, 3, 4]


async def test_a_429_pauses_every_call_for_retry_after() -> None:
    clock = ManualClock()
    limiter = RateLimiter(None, 60.0, clock)
    assert limiter.delay(1) == 0
    assert limiter.pause_for(RateLimitedError("429", retry_after=7.5)) == 7.5
    assert limiter.delay(1) == pytest.approx(7.5)
    await limiter.acquire(1)
    assert clock.t == pytest.approx(7.5)
    assert limiter.delay(1) == 0


def test_a_ban_without_retry_after_pauses_long_and_a_429_until_the_window_ends() -> None:
    clock = ManualClock(start_ms=1_699_999_990_000)  # 10 s into a minute
    limiter = RateLimiter(1000, 60.0, clock)
    assert limiter.pause_for(RateLimitedError("418", banned=True)) == 120.0
    other = RateLimiter(1000, 60.0, ManualClock(start_ms=1_699_999_990_000))
    assert other.pause_for(RateLimitedError("429")) == pytest.approx(50.0)


def test_venue_feedback_holds_calls_until_its_window_rolls_over() -> None:
    clock = ManualClock(start_ms=1_699_999_980_000 + 15_000)  # 15 s into a venue minute
    limiter = RateLimiter(1000, 60.0, clock)
    limiter.observe_used(400)
    assert limiter.delay(10) == 0
    limiter.observe_used(995)  # someone else on this IP spends our weight
    assert limiter.delay(10) == pytest.approx(45.0)
    clock.t = 46.0  # next venue window
    assert limiter.delay(10) == 0


def test_backoff_grows_doubles_caps_and_jitters() -> None:
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    nominal = [0.5, 1, 2, 4, 8, 8, 8, 8]
    for delay, top in zip(delays, nominal, strict=True):
        assert top / 2 <= delay <= top
    assert len(set(delays)) == len(delays)  # jittered
    backoff.reset()
    assert backoff.next() <= 0.5
