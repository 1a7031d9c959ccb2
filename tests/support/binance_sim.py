"""Starting the simulated Binance venue inside a test, and small helpers to talk to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from exchanges.binance.sim import BinanceVenue


@asynccontextmanager
async def running_venue(**options: Any) -> AsyncIterator[BinanceVenue]:
    """A started venue on a free loopback port, stopped on exit."""
    settings: dict[str, Any] = {"seed": 7, "rate": 400.0, "kline_ms": 200, "ticker_ms": 200}
    settings.update(options)
    venue = BinanceVenue(port=0, **settings)
    await venue.start()
    try:
        yield venue
    finally:
        await venue.stop()


async def next_json(ws: aiohttp.ClientWebSocketResponse, within: float = 5.0) -> Any:
    """The next text frame, parsed (fails after ``within`` seconds)."""
    msg = await asyncio.wait_for(ws.receive(), within)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    return orjson.loads(msg.data)


async def collect(ws: aiohttp.ClientWebSocketResponse, count: int, within: float = 10.0) -> list[Any]:
    """``count`` parsed frames (fails when they do not arrive ``within`` seconds)."""
    async with asyncio.timeout(within):
        return [await next_json(ws, within) for _ in range(count)]
