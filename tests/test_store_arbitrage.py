"""Opportunities in the store against a real redis-server: ranking, expiry, conflation, events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import redis

from core.arbitrage import Opportunity, OpportunityLeg
from core.store import KeySchema, RankedItem, StoreReader, StoreWriter
from tests import factories as f

INSTANCE = "arb-venue"
T0 = 1_700_000_000_000
KEYS = KeySchema()


def opportunity(key: str, net: str, *, detected_at: int = T0, stale: bool = False) -> Opportunity:
    return Opportunity(
        instance=INSTANCE,
        id=key,
        path=("USDT", "BTC", "ETH", "USDT"),
        legs=(
            OpportunityLeg(symbol="BTC/USDT", side="buy", price=Decimal("100.00"), amount=Decimal("1.000")),
            OpportunityLeg(symbol="ETH/BTC", side="buy", price=Decimal("0.1"), amount=Decimal("9.99")),
            OpportunityLeg(symbol="ETH/USDT", side="sell", price=Decimal("11"), amount=Decimal("9.98001")),
        ),
        gross_return=Decimal("0.1"),
        net_return=Decimal(net),
        size=Decimal("100.00000000"),
        size_usd=Decimal("100.00000000"),
        oldest_quote_age_ms=3,
        detected_at=detected_at,
        stale=stale,
    )


def ranked(*found: Opportunity) -> list[RankedItem]:
    return [RankedItem(o.id, float(o.net_return), o) for o in found]


def ids(documents: list[bytes]) -> list[str]:
    return [Opportunity.model_validate_json(d).id for d in documents]


@pytest.fixture
async def writer(redis_url: str) -> AsyncIterator[StoreWriter]:
    async with StoreWriter(redis_url, flush_interval=3600) as w:  # flushed by hand
        yield w


@pytest.fixture
async def reader(redis_url: str) -> AsyncIterator[StoreReader]:
    async with StoreReader(redis_url) as r:
        yield r


class Listener:
    """Collects the events published for ``INSTANCE`` from a background subscription."""

    def __init__(self, reader: StoreReader) -> None:
        self.reader = reader
        self.records: list[dict[str, Any]] = []
        self.ready = asyncio.Event()
        self.arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        self.task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self.ready.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def _listen(self) -> None:
        async for _, records in self.reader.events([INSTANCE], on_subscribed=self.ready.set):
            self.records += records
            self.arrived.set()

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(5):
            while len(self.records) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.records


async def test_opportunities_round_trip_ranked_best_first(writer: StoreWriter, reader: StoreReader) -> None:
    found = [opportunity("a", "0.001"), opportunity("b", "0.05"), opportunity("c", "0.0123456789")]
    writer.put_opportunities(INSTANCE, ranked(*found), (), T0)
    await writer.flush()
    stored = await reader.opportunities(INSTANCE)
    assert ids(stored) == ["b", "c", "a"]
    assert Opportunity.model_validate_json(stored[1]) == found[2]
    assert b'"net_return":"0.0123456789"' in stored[1] and b'"price":"100.00"' in stored[1]  # exact text


async def test_limit_and_min_return(writer: StoreWriter, reader: StoreReader) -> None:
    found = [opportunity(f"o{i}", f"0.00{i}") for i in range(1, 10)]
    writer.put_opportunities(INSTANCE, ranked(*found), (), T0)
    await writer.flush()
    assert ids(await reader.opportunities(INSTANCE, limit=3)) == ["o9", "o8", "o7"]
    assert ids(await reader.opportunities(INSTANCE, min_return=0.007)) == ["o9", "o8", "o7"]
    assert ids(await reader.opportunities(INSTANCE, limit=2, min_return=0.005)) == ["o9", "o8"]
    assert await reader.opportunities("other-instance") == []


async def test_documents_expire_and_expired_ones_are_skipped(
    redis_url: str, writer: StoreWriter, reader: StoreReader
) -> None:
    found = [opportunity(f"o{i}", f"0.0{i}") for i in range(1, 6)]
    writer.put_opportunities(INSTANCE, ranked(*found), (), T0)
    await writer.flush()
    raw = redis.Redis.from_url(redis_url)
    try:
        assert 0 < int(raw.pttl(KEYS.arbitrage_item(INSTANCE, "o5"))) <= 30_000
        assert 0 < int(raw.pttl(KEYS.arbitrage(INSTANCE))) <= 30_000
        raw.delete(KEYS.arbitrage_item(INSTANCE, "o5"), KEYS.arbitrage_item(INSTANCE, "o3"))  # as if expired
    finally:
        raw.close()
    assert ids(await reader.opportunities(INSTANCE, limit=2)) == ["o4", "o2"]
    assert ids(await reader.opportunities(INSTANCE)) == ["o4", "o2", "o1"]


async def test_short_expiry_removes_everything(redis_url: str, reader: StoreReader) -> None:
    async with StoreWriter(redis_url, flush_interval=3600, arbitrage_ttl=0.05) as writer:
        writer.put_opportunities(INSTANCE, ranked(opportunity("a", "0.01")), (), T0)
        await writer.flush()
        assert ids(await reader.opportunities(INSTANCE)) == ["a"]
        await asyncio.sleep(0.2)
        assert await reader.opportunities(INSTANCE) == []


async def test_closed_are_removed_and_changes_conflate_per_id(
    writer: StoreWriter, reader: StoreReader
) -> None:
    async with Listener(reader) as listener:
        writer.put_opportunities(INSTANCE, ranked(opportunity("a", "0.01"), opportunity("b", "0.02")), (), T0)
        await writer.flush()
        for i in range(5):  # five changes of "a" in one flush: only the last is written and published
            writer.put_opportunities(INSTANCE, ranked(opportunity("a", f"0.03{i}")), (), T0 + 1 + i)
        writer.put_opportunities(INSTANCE, (), ["b"], T0 + 10)
        writer.put_opportunities(INSTANCE, ranked(opportunity("c", "0.5")), (), T0 + 11)
        writer.put_opportunities(INSTANCE, (), ["c"], T0 + 12)  # opened and closed within one flush
        await writer.flush()
        events = await listener.wait_for(5)
    assert ids(await reader.opportunities(INSTANCE)) == ["a"]
    assert Opportunity.model_validate_json((await reader.opportunities(INSTANCE))[0]).net_return == Decimal(
        "0.034"
    )
    summary = [(e["channel"], e["id"], e["status"], e["receive_time"]) for e in events]
    assert summary[:2] == [("arbitrage", "a", "open", T0), ("arbitrage", "b", "open", T0)]
    assert sorted(summary[2:]) == [
        ("arbitrage", "a", "open", T0 + 5),
        ("arbitrage", "b", "closed", T0 + 10),
        ("arbitrage", "c", "closed", T0 + 12),
    ]
    latest_a = next(e for e in events[2:] if e["id"] == "a")
    assert latest_a["instance"] == INSTANCE
    assert Opportunity.model_validate(latest_a["opportunity"]).net_return == Decimal("0.034")
    assert next(e for e in events[2:] if e["id"] == "b")["opportunity"] is None


async def test_opportunity_events_share_the_flush_publish_with_records(
    writer: StoreWriter, reader: StoreReader
) -> None:
    async with Listener(reader) as listener:
        writer.put(f.quote().model_copy(update={"instance": INSTANCE}))
        writer.put_opportunities(INSTANCE, ranked(opportunity("a", "0.01")), (), T0)
        commands = await writer.flush()
        events = await listener.wait_for(2)
    assert [e["channel"] for e in events] == ["quote", "arbitrage"]
    assert commands < 10


async def test_open_opportunities_are_rewritten_after_redis_lost_its_data(
    redis_url: str, writer: StoreWriter, reader: StoreReader
) -> None:
    writer.put_opportunities(INSTANCE, ranked(opportunity("a", "0.01"), opportunity("b", "0.02")), (), T0)
    await writer.flush()
    writer.put_opportunities(INSTANCE, (), ["b"], T0 + 1)
    await writer.flush()
    raw = redis.Redis.from_url(redis_url)
    try:
        raw.flushall()
    finally:
        raw.close()
    writer.incr(INSTANCE, "messages")
    await writer.flush()  # notices the loss and queues the rewrite
    await writer.flush()
    assert ids(await reader.opportunities(INSTANCE)) == ["a"]
