"""Live push over ``/v1/stream``: snapshot, ordered updates, batching, conflation, slow consumers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
import websockets

from api.metrics import ApiMetrics
from api.push.client import PushClient
from api.push.topics import Topic
from api.settings import ApiTuning
from core.clock import SystemClock
from core.intervals import Interval
from core.models import OrderBook
from core.store import StoreWriter
from tests import factories as f
from tests.api_helpers import api_config
from tests.support.api_data import seed
from tests.support.api_server import ThreadedApi
from tests.support.stalled_ws import StalledClient


@pytest.fixture
async def writer(redis_url: str) -> AsyncIterator[StoreWriter]:
    async with StoreWriter(redis_url, flush_interval=3600) as w:
        await seed(w)
        yield w


@pytest.fixture
def server(redis_url: str, writer: StoreWriter) -> Iterator[ThreadedApi]:
    with ThreadedApi(api_config(redis_url), ApiTuning(heartbeat_interval=0.3, snapshot_history=5)) as api:
        yield api


async def recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    return message


async def recv_type(ws: websockets.ClientConnection, kind: str) -> dict[str, Any]:
    for _ in range(50):
        message = await recv(ws)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} frame")


async def subscribe(ws: websockets.ClientConnection, **command: Any) -> dict[str, Any]:
    await ws.send(orjson.dumps({"op": "subscribe", **command}).decode())
    await recv_type(ws, "subscribed")
    return await recv_type(ws, "snapshot")


async def test_snapshot_then_every_update_in_order(server: ThreadedApi, writer: StoreWriter) -> None:
    async with websockets.connect(server.ws_url) as ws:
        snap = await subscribe(
            ws, channels=["quote", "trades", "kline:1m"], instances=[f.INSTANCE], symbols=["btcusdt"]
        )
        kinds = [r["channel"] for r in snap["data"]]
        assert kinds.count("quote") == 1 and kinds.count("trades") == 5 and kinds.count("kline") == 5
        for i in range(20):
            writer.put(f.quote(bid=f"2.{i:02d}", t=f.T0 + 10 + i))
            if i % 3 == 0:
                await writer.flush()
        writer.put(f.trade(trade_id=999))
        writer.put(f.kline(interval=Interval.M5))  # not subscribed
        await writer.flush()
        bids: list[str] = []
        trades: list[str] = []
        while len(bids) < 20 or not trades:
            frame = await recv_type(ws, "update")
            for record in frame["data"]:
                assert record["channel"] in ("quote", "trades")
                (bids if record["channel"] == "quote" else trades).append(record.get("bid") or record["id"])
        assert bids == [f"2.{i:02d}" for i in range(20)] and trades == ["999"]


async def test_heartbeat_ping_and_errors(server: ThreadedApi) -> None:
    async with websockets.connect(server.ws_url) as ws:
        assert (await recv_type(ws, "heartbeat"))["time"] > 0
        await ws.send('{"op": "ping"}')
        assert (await recv_type(ws, "pong"))["time"] > 0
        await ws.send('{"op": "subscribe", "channels": ["quote"], "symbols": ["BTC-USDX"]}')
        error = (await recv_type(ws, "error"))["error"]
        assert error["code"] == "unknown_symbol" and "BTC/USDT" in error["suggestions"]
        await ws.send(
            '{"op": "subscribe", "channels": ["quote"], "instances": ["nope"], "symbols": ["BTC-USDT"]}'
        )
        assert (await recv_type(ws, "error"))["error"]["code"] == "unknown_instance"
        await ws.send('{"op": "subscribe", "channels": ["candles"], "symbols": ["BTC-USDT"]}')
        assert (await recv_type(ws, "error"))["error"]["code"] == "invalid_parameter"
        await ws.send("not json")
        assert (await recv_type(ws, "error"))["error"]["code"] == "invalid_message"


async def test_all_instances_carrying_a_symbol_and_unsubscribe(
    server: ThreadedApi, writer: StoreWriter
) -> None:
    async with websockets.connect(server.ws_url) as ws:
        snap = await subscribe(ws, channels=["quote"], symbols=["ETH-USDT"])
        assert sorted(r["instance"] for r in snap["data"]) == ["other-venue", f.INSTANCE]
        await ws.send(
            orjson.dumps({"op": "unsubscribe", "channels": ["quote"], "symbols": ["ETH-USDT"]}).decode()
        )
        await recv_type(ws, "unsubscribed")
        await ws.send(
            '{"op": "subscribe", "channels": ["price"], "instances": ["test-venue"], "symbols": ["ETH-BTC"]}'
        )
        await recv_type(ws, "snapshot")
        writer.put(f.quote("ETH/USDT", bid="9.9"))
        writer.put(f.price("ETH/BTC", value="0.05", t=f.T0 + 100))
        await writer.flush()
        frame = await recv_type(ws, "update")
        assert [r["channel"] for r in frame["data"]] == ["price"]


def _client(max_queue: int) -> tuple[PushClient, ApiMetrics]:
    metrics = ApiMetrics()
    return PushClient(
        max_queue=max_queue, batch_max=100, heartbeat=60, metrics=metrics, clock=SystemClock()
    ), metrics


async def test_a_full_queue_conflates_latest_values() -> None:
    client, metrics = _client(max_queue=2)
    quote, trade = Topic("quote", "x", "BTC/USDT"), Topic("trades", "x", "BTC/USDT")
    assert client.offer(quote, {"bid": "1", "receive_time": 1})
    assert client.offer(trade, {"id": "7", "receive_time": 1})
    for i in range(2, 10):
        assert client.offer(quote, {"bid": str(i), "receive_time": i})  # replaces the queued quote
    assert [r.get("bid") or r["id"] for _, r, _ in client._queue] == ["9", "7"]
    assert metrics.push_messages.labels("conflated")._value.get() == 8
    assert not client.offer(trade, {"id": "8", "receive_time": 2})  # cannot be conflated: dropped
    assert client.closed.is_set() and client.close_code == 1013


async def test_snapshot_supersedes_queued_older_updates() -> None:
    client, _ = _client(max_queue=10)
    quote = Topic("quote", "x", "BTC/USDT")
    client.offer(quote, {"bid": "old", "receive_time": 5})
    client.snapshot([(quote, {"bid": "snap", "receive_time": 6})])
    client.offer(quote, {"bid": "late-but-older", "receive_time": 4})
    client.offer(quote, {"bid": "new", "receive_time": 7})
    assert [r["bid"] for _, r, _ in client._queue] == ["new"]


async def test_a_stalled_reader_is_disconnected_and_others_go_on(redis_url: str, writer: StoreWriter) -> None:
    command = {
        "op": "subscribe",
        "channels": ["trades", "depth"],
        "instances": [f.INSTANCE],
        "symbols": ["BTC-USDT"],
    }
    with ThreadedApi(api_config(redis_url), ApiTuning(push_queue_size=8)) as server:
        async with websockets.connect(server.ws_url) as good:
            await subscribe(good, channels=["trades"], instances=[f.INSTANCE], symbols=["BTC-USDT"])
            with StalledClient(server.port, "/v1/stream", orjson.dumps(command), until=b'"snapshot"'):
                big = [(f"{i}.00000000", "1.00000000") for i in range(1, 4000)]
                for n in range(100):  # ~12 MB for the stalled client: its socket, then its queue fill up
                    writer.put(
                        OrderBook.model_validate(
                            {
                                **f.book().model_dump(),
                                "bids": big,
                                "sequence": n,
                                "receive_time": f.T0 + 10 + n,
                            }
                        )
                    )
                    writer.put(f.trade(trade_id=1000 + n))
                    await writer.flush()
                seen: list[str] = []
                while len(seen) < 100:
                    seen += [r["id"] for r in (await recv_type(good, "update"))["data"]]
                assert seen == [str(1000 + n) for n in range(100)]
                async with httpx.AsyncClient(base_url=server.url) as http:
                    text = (await http.get("/metrics")).text
                assert 'quotewire_api_push_disconnects_total{reason="slow_consumer"} 1.0' in text
                assert "quotewire_api_push_clients 1.0" in text
