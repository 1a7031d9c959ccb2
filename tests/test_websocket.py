"""Closing a websocket connection to a venue that never answers the close frame."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp

from core.websocket import close_bounded
from tests.support.endless_ws import endless_venue


@contextlib.asynccontextmanager
async def endless_connection() -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A client connection to :func:`endless_venue` on loopback, its first frame already read."""
    server = await asyncio.start_server(endless_venue, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"ws://127.0.0.1:{port}/")
            message = await ws.receive(timeout=5)
            assert message.type is aiohttp.WSMsgType.TEXT
            yield ws
    finally:
        server.close()


async def test_a_close_the_venue_never_answers_ends_at_the_bound() -> None:
    async with endless_connection() as ws:
        done, _ = await asyncio.wait({asyncio.create_task(close_bounded(ws, 0.2))}, timeout=5)
        assert done, "close_bounded still waiting"
        assert ws.closed
        assert ws.close_code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE  # dropped, not answered


async def test_a_plain_close_to_that_venue_keeps_reading_its_frames() -> None:
    """Why the bound is needed: aiohttp's own close waits for the answer, reading what comes."""
    async with endless_connection() as ws:
        closing = asyncio.create_task(ws.close())
        done, _ = await asyncio.wait({closing}, timeout=1.0)
        assert not done
        closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
