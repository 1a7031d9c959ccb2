"""One websocket connection of the simulated HTX venue: gzip frames, heartbeat and frame faults.

Every frame is a binary gzip of JSON, as HTX sends it. The server sends ``{"ping": ts}`` every
``ping_interval`` seconds and closes the connection when two pings in a row went unanswered by
``{"pong": ts}``. Data frames pass the fault counters of :class:`~exchanges.huobi.sim.faults.Faults`;
control frames (acks, pings, ``req`` replies) never do.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from typing import Any

import orjson
from aiohttp import web

from core.sim.faults import every
from exchanges.huobi.sim.context import VenueContext

log = logging.getLogger(__name__)
MAX_QUEUED = 20_000
"""Frames buffered for a slow client before it is disconnected, as HTX drops slow consumers."""
MISSED_PONGS = 2


def gz(payload: Any) -> bytes:
    """Encode one message the way HTX frames it."""
    return gzip.compress(orjson.dumps(payload), compresslevel=1, mtime=0)


class Session:
    """The outbound side of one connection: a bounded frame queue drained by :meth:`run_writer`."""

    def __init__(self, ws: web.WebSocketResponse, ctx: VenueContext, ping_interval: float) -> None:
        self.ws = ws
        self.ctx = ctx
        self.ping_interval = ping_interval
        self.topics: set[str] = set()
        self.sent_data = 0
        self.mbp_frames = 0
        self.stalled = False
        self.closing = False
        self.awaiting_pong: int | None = None
        self.missed = 0
        self._held: bytes | None = None
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    # ---- outbound -----------------------------------------------------------------------------
    def control(self, payload: Any) -> None:
        """Queue an ack, ping or reply (no faults)."""
        self._put(gz(payload))

    def data(self, frame: bytes, *, mbp: bool = False) -> None:
        """Queue one gzip data frame through the fault counters."""
        if self.closing or self.stalled:
            return
        faults = self.ctx.faults
        if mbp:
            self.mbp_frames += 1
            if every(self.mbp_frames, faults.gap_every):
                return
        self.sent_data += 1
        count = self.sent_data
        if faults.stall_after and count > faults.stall_after:
            self.stalled = True
            return
        if every(count, faults.drop_every):
            return
        if every(count, faults.malformed_gzip_every):
            frame = frame[: max(1, len(frame) // 2)] + b"\x00garbage"
        elif every(count, faults.malformed_json_every):
            text = gzip.decompress(frame)
            frame = gzip.compress(text[: len(text) // 2], compresslevel=1, mtime=0)
        if every(count, faults.reorder_every):
            self._held = frame
            return
        self._put(frame)
        if every(count, faults.duplicate_every):
            self._put(frame)
        if self._held is not None:
            held, self._held = self._held, None
            self._put(held)
        if faults.disconnect_after and count >= faults.disconnect_after:
            self.close()

    def _put(self, frame: bytes) -> None:
        if self.closing:
            return
        if self._queue.qsize() >= MAX_QUEUED:
            log.warning("huobi-sim: dropping a slow client (%d frames queued)", MAX_QUEUED)
            self.close()
            return
        self._queue.put_nowait(frame)

    def close(self) -> None:
        """Stop sending and make the writer close the socket."""
        if not self.closing:
            self.closing = True
            self._queue.put_nowait(None)

    async def run_writer(self) -> None:
        """Send queued frames (after the latency fault) until :meth:`close`."""
        while True:
            frame = await self._queue.get()
            if frame is None:
                await self.ws.close()
                return
            latency = self.ctx.faults.latency_ms
            if latency:
                await asyncio.sleep(latency / 1000)
            await self.ws.send_bytes(frame)

    # ---- heartbeat ----------------------------------------------------------------------------
    async def run_heartbeat(self) -> None:
        """Ping every ``ping_interval``; close after ``MISSED_PONGS`` unanswered pings."""
        while not self.closing:
            await asyncio.sleep(self.ping_interval)
            if self.ctx.faults.no_heartbeat or self.stalled:
                continue
            if self.awaiting_pong is not None:
                self.missed += 1
                if self.missed >= MISSED_PONGS:
                    log.info("huobi-sim: closing a client that missed %d pongs", self.missed)
                    self.close()
                    return
            ts = self.ctx.clock.now_ms()
            self.awaiting_pong = ts
            self.control({"ping": ts})

    def pong(self, ts: Any) -> None:
        """A client ``{"pong": ts}`` arrived."""
        self.awaiting_pong = None
        self.missed = 0
