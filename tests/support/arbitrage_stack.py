"""The whole arbitrage path in one process: simulated Binance venue → collector → Redis → API → push.

Shared by tests/test_arbitrage_e2e.py (behaviour) and bench/arbitrage_e2e.py (detection latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
import httpx
import orjson
import websockets

from core.arbitrage.book import Book
from core.collector import Collector
from core.config import AppConfig
from core.models import Market
from core.plugins import PluginHost
from core.store import StoreReader
from core.symbols import to_key
from core.venue import SimulatedVenue
from tests.support.api_server import ThreadedApi

INSTANCE = "binance-sim"
SYMBOLS = ["BTC/USDT", "ETH/USDT", "ETH/BTC", "BNB/USDT", "BNB/BTC", "BNB/ETH"]
DEPTH = 20
FEE = Decimal("0.001")


@dataclass
class Stack:
    """The running pieces, and helpers to drive and observe them."""

    venue: Any  # the Binance venue (pause(), hub, engine beyond the SimulatedVenue protocol)
    collector: Collector
    api: ThreadedApi
    reader: StoreReader
    http: aiohttp.ClientSession

    async def inject(self, native_symbol: str, bps: int) -> None:
        """Misprice a market through the venue's admin API (``bps == 0`` restores it)."""
        url = self.venue.instance_urls()["rest"] + "/_sim/inject"
        body = {"event": "mispricing", "symbol": native_symbol, "bps": bps}
        async with self.http.post(url, data=orjson.dumps(body)) as response:
            assert response.status == 200, await response.text()

    async def opportunities(self, **params: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.api.url, timeout=10) as client:
            response = await client.get(f"/v1/arbitrage/{INSTANCE}", params=params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def venue_books(self, symbols: list[str]) -> dict[str, Book]:
        """The venue's own order books (REST), as the engine's books."""
        books: dict[str, Book] = {}
        for symbol in symbols:
            url = self.venue.instance_urls()["rest"] + "/api/v3/depth"
            params = {"symbol": symbol.replace("/", ""), "limit": str(DEPTH)}
            async with self.http.get(url, params=params) as response:
                raw = orjson.loads(await response.read())
            bids = [(Decimal(p), Decimal(q)) for p, q in raw["bids"]]
            asks = [(Decimal(p), Decimal(q)) for p, q in raw["asks"]]
            books[symbol] = Book(bids, asks, 0, bids, asks)
        return books

    async def markets(self) -> list[Market]:
        return await self.reader.markets(INSTANCE)

    async def freeze(self) -> None:
        """Stop the market, push the venue's pending timed frames, and let the collector store them."""
        await self.venue.pause()
        await asyncio.sleep(1.1)
        self.venue.hub.on_batch(self.venue.clock.now_ms())
        await asyncio.sleep(0.5)
        await self.collector.writer.flush()


def app_config(venue: SimulatedVenue, redis_url: str, stale_after_ms: int) -> AppConfig:
    urls = venue.instance_urls()
    return AppConfig.model_validate(
        {
            "redis": {"url": redis_url},
            "collector": {"flush_interval_ms": 5},
            "api": {"stale_after": stale_after_ms / 1000},
            "exchanges": {
                INSTANCE: {
                    "name": INSTANCE, "plugin": "binance", "simulated": True, "symbols": SYMBOLS,
                    "channels": ["quote", "depth"], "depth_levels": DEPTH, "kline_history": 0,
                    "transport": "websocket", "taker_fee": str(FEE),
                    "urls": {"rest": urls["rest"], "websocket": urls["websocket"]},
                    "options": {"arbitrage": {"stale_after_ms": stale_after_ms}},
                }
            },
        }
    )  # fmt: skip


@contextlib.asynccontextmanager
async def arbitrage_stack(
    redis_url: str, *, seed: int = 5, rate: float = 300.0, stale_after_ms: int = 1500
) -> AsyncIterator[Stack]:
    """Start venue, collector and API; yield once every symbol has a stored quote and book."""
    host = PluginHost.load()
    venue: Any = host.venues["binance"](seed=seed, symbols=12, rate=rate, kline_ms=1000, ticker_ms=1000)
    await venue.start()
    try:
        config = app_config(venue, redis_url, stale_after_ms)
        collector = Collector(config, host)
        task = asyncio.create_task(collector.run(), name="collector")
        try:
            async with (
                StoreReader(redis_url) as reader,
                aiohttp.ClientSession() as http,
            ):
                with ThreadedApi(config) as api:
                    stack = Stack(venue, collector, api, reader, http)
                    await _until_filled(stack, task)
                    yield stack
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        await venue.stop()


async def _until_filled(stack: Stack, task: asyncio.Task[None]) -> None:
    wanted = {f"{to_key(s)}:{c}" for s in SYMBOLS for c in ("quote", "depth")}
    async with asyncio.timeout(30):
        while not wanted <= (await stack.reader.freshness(INSTANCE)).keys():
            if task.done():
                task.result()
            await asyncio.sleep(0.05)


class ArbitragePush:
    """A websocket client subscribed to the instance's ``arbitrage`` channel."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.snapshot: list[dict[str, Any]] = []
        self._pending: deque[tuple[float, dict[str, Any]]] = deque()

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, stack: Stack) -> AsyncIterator[ArbitragePush]:
        async with websockets.connect(stack.api.ws_url) as ws:
            push = cls(ws)
            command = {"op": "subscribe", "channels": ["arbitrage"], "instances": [INSTANCE]}
            await ws.send(orjson.dumps(command).decode())
            push.snapshot = (await push.frame("snapshot"))["data"]
            yield push

    async def frame(self, kind: str) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = orjson.loads(await self.ws.recv())
            if message["type"] == kind:
                return message

    async def next_event(self) -> tuple[float, dict[str, Any]]:
        """The next arbitrage event and when it arrived (``time.monotonic()``)."""
        while not self._pending:
            frame = await self.frame("update")
            arrived = time.monotonic()
            self._pending += [(arrived, event) for event in frame["data"]]
        return self._pending.popleft()

    async def updates_for(self, seconds: float) -> list[dict[str, Any]]:
        """Every arbitrage event arriving within ``seconds``."""
        events = [event for _, event in self._pending]
        self._pending.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while True:
                    events += (await self.frame("update"))["data"]
        return events
