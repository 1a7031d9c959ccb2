"""Closing an aiohttp websocket connection without waiting on the venue for long."""

from __future__ import annotations

import asyncio

import aiohttp

CLOSE_TIMEOUT_S = 1.0
"""How long a closing connection waits for the venue's answer to its close frame."""


async def close_bounded(ws: aiohttp.ClientWebSocketResponse, wait_s: float = CLOSE_TIMEOUT_S) -> None:
    """Close ``ws``, waiting at most ``wait_s`` seconds for the venue's answer.

    A graceful close reads (and drops) every frame still queued ahead of that answer. On a
    connection that is seconds behind, or to a venue that keeps streaming and never answers, that
    lasted as long as the backlog did and held a shutdown or a reconnect for it (12 s seen in
    ``bench.collect``). Past the bound the connection is dropped: nothing it still held was wanted.
    """
    try:
        async with asyncio.timeout(wait_s):
            await ws.close()
    except TimeoutError:
        pass  # aiohttp dropped the connection when its wait was cut short
