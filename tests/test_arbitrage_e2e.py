"""End to end: simulated Binance venue → collector → arbitrage observer → Redis → API and push.

Consistent quotes report nothing; a mispriced cross rate is reported with the exact figures the
venue's own books give; a leg that stops updating flags the opportunity stale. Detection latency is
measured in bench/arbitrage_e2e.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.arbitrage import settings_for
from core.arbitrage.reference import brute_force
from tests.support.arbitrage_stack import FEE, INSTANCE, SYMBOLS, ArbitragePush, arbitrage_stack

pytest.importorskip("exchanges.binance.plugin")

CROSS = "ETH/BTC"
BPS = 150


def figures(opportunity: Any) -> tuple[Any, ...]:
    """What must match exactly (times aside)."""
    get = opportunity.get if isinstance(opportunity, dict) else opportunity.__getattribute__
    legs = [(leg["symbol"], leg["side"], str(leg["price"]), str(leg["amount"])) for leg in _legs(get("legs"))]
    return (get("id"), str(get("net_return")), str(get("gross_return")), str(get("size")), legs)


def _legs(legs: Any) -> list[dict[str, Any]]:
    return [leg if isinstance(leg, dict) else leg.model_dump() for leg in legs]


@pytest.mark.slow
async def test_mispriced_cross_rate_is_reported_exactly_and_goes_stale(redis_url: str) -> None:
    async with arbitrage_stack(redis_url, stale_after_ms=1500) as stack, ArbitragePush.connect(stack) as push:
        # consistent quotes: nothing reported, nothing pushed
        assert push.snapshot == []
        assert await push.updates_for(1.5) == []
        assert (await stack.opportunities())["count"] == 0

        await stack.inject(CROSS.replace("/", ""), BPS)
        async with asyncio.timeout(15):
            while True:
                _, event = await push.next_event()
                if event["status"] == "open" and CROSS in event["id"]:
                    break
        assert event["channel"] == "arbitrage" and event["instance"] == INSTANCE
        assert event["opportunity"]["net_return"].startswith("0.")

        # freeze the market; what is served then must be what the venue's own books give
        await stack.freeze()
        served = (await stack.opportunities())["data"]
        books = await stack.venue_books(SYMBOLS)
        expected = brute_force(
            INSTANCE, await stack.markets(), books, settings_for("binance", taker_fee=str(FEE)), 0
        )
        assert expected and all(CROSS in o.id for o in expected)
        assert [figures(o) for o in served] == [figures(o) for o in expected]
        best = served[0]
        assert best["size_usd"] is not None and best["path"][0] == best["path"][-1]
        assert best["gross_return"] > best["net_return"]

        # no quote moves any more: the oldest quote ages past stale_after and is flagged
        await asyncio.sleep(1.6)
        assert all(o["stale"] for o in (await stack.opportunities())["data"])
