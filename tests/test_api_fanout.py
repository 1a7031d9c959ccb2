"""1,000 websocket subscribers on loopback against ``quotewire api`` in its own process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets

from core.models import OrderBook
from core.store import StoreWriter
from tests import factories as f
from tests.support.api_data import SYMBOLS, seed
from tests.support.api_server import SubprocessApi
from tests.support.stalled_ws import StalledClient

SUBSCRIBERS = 1000
UPDATES = 20


async def _subscriber(url: str, symbol: str, ready: asyncio.Event, go: asyncio.Event) -> list[str]:
    async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
        command = {"op": "subscribe", "channels": ["quote"], "instances": [f.INSTANCE], "symbols": [symbol]}
        await ws.send(orjson.dumps(command).decode())
        while orjson.loads(await ws.recv())["type"] != "snapshot":
            pass
        ready.set()
        await go.wait()
        bids: list[str] = []
        while len(bids) < UPDATES:
            frame: dict[str, Any] = orjson.loads(await ws.recv())
            if frame["type"] == "update":
                bids += [r["bid"] for r in frame["data"] if r["symbol"] == symbol]
        return bids


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_thousand_subscribers_see_every_update_in_order(redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "plugins.yaml"
    config.write_text("api:\n  host: 127.0.0.1\n")
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        await seed(writer)
        with SubprocessApi(config, redis_url) as server:
            go = asyncio.Event()
            readies = [asyncio.Event() for _ in range(SUBSCRIBERS)]
            async with asyncio.timeout(150):
                tasks = []
                for i in range(SUBSCRIBERS):
                    symbol = SYMBOLS[i % len(SYMBOLS)]
                    tasks.append(asyncio.create_task(_subscriber(server.ws_url, symbol, readies[i], go)))
                    if i % 50 == 49:  # connect in waves to spare the listen backlog
                        await asyncio.gather(*(r.wait() for r in readies[: i + 1]))
                await asyncio.gather(*(r.wait() for r in readies))
                command = {"op": "subscribe", "channels": ["depth", "quote"], "instances": [f.INSTANCE],
                           "symbols": list(SYMBOLS)}  # fmt: skip
                with StalledClient(server.port, "/v1/stream", orjson.dumps(command), until=b'"snapshot"'):
                    go.set()
                    big = [(f"{i}.00000000", "1.00000000") for i in range(1, 4000)]
                    for n in range(UPDATES):
                        for symbol in SYMBOLS:
                            writer.put(f.quote(symbol, bid=f"{n + 1}.00", t=f.T0 + 100 + n))
                        book = {**f.book().model_dump(), "bids": big, "sequence": n}
                        writer.put(OrderBook.model_validate({**book, "receive_time": f.T0 + 100 + n}))
                        await writer.flush()
                    results = await asyncio.gather(*tasks)
    expected = [f"{n + 1}.00" for n in range(UPDATES)]
    assert all(bids == expected for bids in results)
