"""One websocket client's bounded outbox and its sender loop.

The hub offers updates synchronously and never waits on a client. Up to ``max_queue`` updates wait;
beyond that a newer value replaces the queued one of the same stream (conflation), and a client that
would lose an update that cannot be conflated (a trade) is closed with a reason.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Any

import orjson
from starlette.websockets import WebSocket

from api.metrics import ApiMetrics
from api.push.topics import Topic, conflation_key
from core.clock import Clock

SLOW_CONSUMER = 1013  # "try again later"
_Entry = list[Any]  # [conflation key, record, topic]


class PushClient:
    """Outbox of one websocket connection."""

    def __init__(
        self, *, max_queue: int, batch_max: int, heartbeat: float, metrics: ApiMetrics, clock: Clock
    ) -> None:
        self.max_queue = max_queue
        self.batch_max = batch_max
        self.heartbeat = heartbeat
        self.topics: set[Topic] = set()
        self.closed = asyncio.Event()
        self.close_code = 1000
        self.close_reason = ""
        self._metrics = metrics
        self._clock = clock
        self._queue: deque[_Entry] = deque()
        self._frames: deque[bytes] = deque()  # control and snapshot frames, sent before updates
        self._wake = asyncio.Event()
        self._watermarks: dict[Hashable, int] = {}
        self._seen_trades: dict[Topic, set[str]] = {}

    # ---- fed by the hub (synchronous, never blocks) ---------------------------------------------
    def offer(self, topic: Topic, record: dict[str, Any]) -> bool:
        """Queue one update; False when the client overflowed and must be dropped."""
        if self.closed.is_set():
            return False
        key = conflation_key(topic, record)
        if (self._watermarks or self._seen_trades) and self._superseded(topic, key, record):
            return True
        if len(self._queue) < self.max_queue:
            self._queue.append([key, record, topic])
            self._wake.set()
            return True
        if key is not None:
            for entry in reversed(self._queue):
                if entry[0] == key:
                    entry[1] = record
                    self._metrics.push_messages.labels("conflated").inc()
                    return True
        self._metrics.push_messages.labels("dropped").inc()
        self.close(SLOW_CONSUMER, "slow consumer: send queue overflow")
        return False

    def _superseded(self, topic: Topic, key: Hashable | None, record: dict[str, Any]) -> bool:
        """True for an update older than (or part of) the snapshot the client already has."""
        mark = None if key is None else self._watermarks.get(key)
        if mark is not None:
            if int(record.get("receive_time") or 0) <= mark:
                return True
            del self._watermarks[key]
            return False
        seen = self._seen_trades.get(topic)
        if seen is not None and str(record.get("id")) in seen:
            seen.discard(str(record.get("id")))
            if not seen:
                del self._seen_trades[topic]
            return True
        return False

    # ---- fed by the connection handler ----------------------------------------------------------
    def send_frame(self, message: dict[str, Any]) -> None:
        """Queue a control frame (ack, error, pong) ahead of updates."""
        self._frames.append(orjson.dumps(message))
        self._wake.set()

    def snapshot(self, records: list[tuple[Topic, dict[str, Any]]]) -> None:
        """Queue the current state of new topics and drop queued updates it already contains."""
        for topic, record in records:
            key = conflation_key(topic, record)
            if key is not None:
                self._watermarks[key] = max(
                    self._watermarks.get(key, 0), int(record.get("receive_time") or 0)
                )
            else:
                self._seen_trades.setdefault(topic, set()).add(str(record.get("id")))
        kept: deque[_Entry] = deque()
        for entry in self._queue:
            key, record, topic = entry
            if not self._is_in_snapshot(topic, key, record):
                kept.append(entry)
        self._queue = kept
        self.send_frame({"type": "snapshot", "data": [r for _, r in records]})

    def _is_in_snapshot(self, topic: Topic, key: Hashable | None, record: dict[str, Any]) -> bool:
        if key is not None:
            return int(record.get("receive_time") or 0) <= self._watermarks.get(key, -1)
        return str(record.get("id")) in self._seen_trades.get(topic, ())

    def close(self, code: int, reason: str) -> None:
        """Ask the connection handler to end this connection."""
        if not self.closed.is_set():
            self.close_code, self.close_reason = code, reason
            self.closed.set()
            self._wake.set()

    # ---- the sender loop ------------------------------------------------------------------------
    async def send_loop(self, ws: WebSocket) -> None:
        """Send queued frames, batching waiting updates into one frame; heartbeat when idle."""
        try:
            while not self.closed.is_set():
                try:
                    async with asyncio.timeout(self.heartbeat):
                        await self._wake.wait()
                except TimeoutError:
                    self.send_frame({"type": "heartbeat", "time": self._clock.now_ms()})
                    continue
                self._wake.clear()
                while self._frames and not self.closed.is_set():
                    await ws.send_text(self._frames.popleft().decode())
                    self._metrics.push_frames.inc()
                while self._queue and not self.closed.is_set():
                    count = min(len(self._queue), self.batch_max)
                    batch = [self._queue.popleft()[1] for _ in range(count)]
                    await ws.send_text(orjson.dumps({"type": "update", "data": batch}).decode())
                    self._metrics.push_frames.inc()
                    self._metrics.push_messages.labels("sent").inc(count)
        except Exception:  # the peer went away mid-send; the handler ends the connection
            self.close(1006, "send failed")
