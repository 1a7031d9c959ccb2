"""``GET /v1/arbitrage/{instance}`` and the ``arbitrage`` push channel, over a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
import websockets

from core.arbitrage import Opportunity, OpportunityLeg
from core.store import RankedItem, StoreWriter
from tests import factories as f
from tests.api_helpers import api_config
from tests.support.api_server import ThreadedApi

INSTANCE = f.INSTANCE


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def opportunity(key: str, net: str, *, quote_age_ms: int = 5, stale: bool = False) -> Opportunity:
    return Opportunity(
        instance=INSTANCE,
        id=key,
        path=("USDT", "BTC", "ETH", "USDT"),
        legs=(
            OpportunityLeg(symbol="BTC/USDT", side="buy", price=Decimal("100.00"), amount=Decimal(1)),
            OpportunityLeg(symbol="ETH/BTC", side="buy", price=Decimal("0.1"), amount=Decimal("9.99")),
            OpportunityLeg(symbol="ETH/USDT", side="sell", price=Decimal(11), amount=Decimal("9.98001")),
        ),
        gross_return=Decimal("0.1"),
        net_return=Decimal(net),
        size=Decimal("100.00000000"),
        size_usd=Decimal("100.00000000"),
        oldest_quote_age_ms=quote_age_ms,
        detected_at=now_ms(),
        stale=stale,
    )


def put(writer: StoreWriter, *found: Opportunity, closed: tuple[str, ...] = ()) -> None:
    ranked = [RankedItem(o.id, float(o.net_return), o) for o in found]
    writer.put_opportunities(INSTANCE, ranked, closed, max((o.detected_at for o in found), default=now_ms()))


@pytest.fixture
async def writer(redis_url: str) -> AsyncIterator[StoreWriter]:
    async with StoreWriter(redis_url, flush_interval=3600) as w:
        w.put_markets(INSTANCE, [f.market("BTC/USDT")], {"plugin": "test", "simulated": True})
        put(w, opportunity("a", "0.0012"), opportunity("b", "0.0967032989"), opportunity("c", "0.0012000001"))
        await w.flush()
        yield w


@pytest.fixture
def server(redis_url: str, writer: StoreWriter) -> Iterator[ThreadedApi]:
    with ThreadedApi(api_config(redis_url, stale_after=5.0)) as api:
        yield api


async def get(server: ThreadedApi, path: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        return await client.get(path, params=params)


async def test_ranked_opportunities_with_legs_returns_size_and_freshness(server: ThreadedApi) -> None:
    response = await get(server, f"/v1/arbitrage/{INSTANCE}")
    assert response.status_code == 200
    body = response.json()
    assert (body["source"], body["count"]) == (INSTANCE, 3)
    assert [o["id"] for o in body["data"]] == ["b", "c", "a"]
    best = body["data"][0]
    assert best["net_return"] == "0.0967032989" and best["gross_return"] == "0.1"
    assert best["path"] == ["USDT", "BTC", "ETH", "USDT"]
    assert [(leg["symbol"], leg["side"], leg["price"]) for leg in best["legs"]] == [
        ("BTC/USDT", "buy", "100.00"),
        ("ETH/BTC", "buy", "0.1"),
        ("ETH/USDT", "sell", "11"),
    ]
    assert (best["size"], best["size_usd"]) == ("100.00000000", "100.00000000")
    assert 5 <= best["quote_age_ms"] < 5_000 and best["stale"] is False
    assert best["oldest_quote_age_ms"] == 5 and best["detected_at"] <= now_ms()


async def test_limit_and_exact_min_return(server: ThreadedApi) -> None:
    assert [o["id"] for o in (await get(server, f"/v1/arbitrage/{INSTANCE}", limit=1)).json()["data"]] == [
        "b"
    ]
    above = await get(server, f"/v1/arbitrage/{INSTANCE}", min_return="0.0012000001")
    assert [o["id"] for o in above.json()["data"]] == ["b", "c"]  # decided on the exact decimals
    bad = await get(server, f"/v1/arbitrage/{INSTANCE}", limit=0)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_parameter"


async def test_unknown_instance_is_a_404_in_the_error_shape(server: ThreadedApi) -> None:
    response = await get(server, "/v1/arbitrage/test-venu")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_instance" and INSTANCE in error["suggestions"]


async def test_old_quotes_are_flagged_stale(server: ThreadedApi, writer: StoreWriter) -> None:
    put(writer, opportunity("old", "0.5", quote_age_ms=6_000), opportunity("flagged", "0.4", stale=True))
    await writer.flush()
    data = (await get(server, f"/v1/arbitrage/{INSTANCE}", limit=2)).json()["data"]
    assert [(o["id"], o["stale"]) for o in data] == [("old", True), ("flagged", True)]
    assert data[0]["quote_age_ms"] >= 6_000


async def recv_type(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    for _ in range(50):
        message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} frame")


async def test_push_sends_the_ranked_set_then_every_change(server: ThreadedApi, writer: StoreWriter) -> None:
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(
            orjson.dumps({"op": "subscribe", "channels": ["arbitrage"], "instances": [INSTANCE]}).decode()
        )
        subscribed = await recv_type(ws, "subscribed")
        assert subscribed["topics"] == [{"channel": "arbitrage", "instance": INSTANCE, "symbol": ""}]
        snapshot = (await recv_type(ws, "snapshot"))["data"]
        assert [(e["channel"], e["id"], e["status"]) for e in snapshot] == [
            ("arbitrage", "b", "open"),
            ("arbitrage", "c", "open"),
            ("arbitrage", "a", "open"),
        ]
        assert snapshot[0]["opportunity"]["net_return"] == "0.0967032989"
        put(writer, opportunity("a", "0.2"), closed=("b",))
        await writer.flush()
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 2:
            for event in (await recv_type(ws, "update"))["data"]:
                seen[event["id"]] = event
    assert seen["a"]["status"] == "open" and seen["a"]["opportunity"]["net_return"] == "0.2"
    assert seen["b"]["status"] == "closed" and seen["b"]["opportunity"] is None


async def test_push_rejects_an_unknown_instance(server: ThreadedApi) -> None:
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(
            orjson.dumps({"op": "subscribe", "channels": ["arbitrage"], "instances": ["nope"]}).decode()
        )
        error = await recv_type(ws, "error")
    assert error["error"]["code"] == "unknown_instance"
