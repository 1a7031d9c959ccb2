"""The websocket endpoints ``/ws``, ``/ws/<s1>/<s2>…`` and ``/stream?streams=a/b``.

Control messages (``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY``,
``GET_PROPERTY``) are answered ``{"result": …, "id": …}``; errors as the live server sends them,
``{"error": {"code": 2, "msg": "Invalid request: …"}, "id": …}``. Limits as documented: 5 incoming
messages per second (PING, PONG and JSON each count; above that the connection is closed), 1024
streams per connection (a SUBSCRIBE beyond that is refused; a URL with more is closed with 1008),
a server PING every ``ping_interval`` seconds (closed when no PONG came for ``pong_timeout``), and a
``lifetime`` after which the connection is closed (Binance: 24 h).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from exchanges.binance.sim.faults import Faults
from exchanges.binance.sim.streams import MAX_STREAMS, Connection, Hub, Stream, parse_stream

log = logging.getLogger(__name__)
BINARY_ERROR = '{"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 1"},"id":null}'
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


@dataclass(slots=True)
class WsSettings:
    """Connection policy (seconds)."""

    ping_interval: float = 20.0
    pong_timeout: float = 60.0
    lifetime: float = 86_400.0
    max_incoming_per_s: int = 5


class RequestError(Exception):
    """A control message the server refuses."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class WsEndpoint:
    """Accepts websocket connections and runs each one."""

    def __init__(self, hub: Hub, faults: Faults, settings: WsSettings) -> None:
        self.hub = hub
        self.faults = faults
        self.settings = settings
        self.sockets: set[web.WebSocketResponse] = set()

    def routes(self) -> list[web.RouteDef]:
        """``/ws``, ``/ws/{streams}``, ``/stream``."""
        return [
            web.get("/ws", self.raw),
            web.get("/ws/{streams:.*}", self.raw),
            web.get("/stream", self.combined),
        ]

    async def raw(self, request: web.Request) -> web.StreamResponse:
        """Raw streams: payloads are the events themselves."""
        names = [n for n in request.match_info.get("streams", "").split("/") if n]
        return await self._serve(request, names, combined=False)

    async def combined(self, request: web.Request) -> web.StreamResponse:
        """Combined streams: ``{"stream": name, "data": event}``."""
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await self._serve(request, names, combined=True)

    async def _serve(self, request: web.Request, names: list[str], combined: bool) -> web.StreamResponse:
        if self.faults.refuse_connections > 0:
            self.faults.refuse_connections -= 1
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        transport = request.transport
        if transport is None:
            return ws
        conn = Connection(transport, combined, self.faults)
        if len(names) > MAX_STREAMS:
            await ws.close(code=1008, message=b"Too many streams requested")
            return ws
        # Unknown names in the URL are ignored, as Binance does (ccxt connects to /ws/0).
        self.hub.subscribe(conn, [s for s in map(parse_stream, names) if s is not None])
        self.hub.add(conn)
        self.sockets.add(ws)
        try:
            async with asyncio.TaskGroup() as group:
                supervisor = group.create_task(self._supervise(ws, conn), name="binance-sim-ws-supervisor")
                await self._read(ws, conn)
                supervisor.cancel()
        finally:
            self.hub.discard(conn)
            self.sockets.discard(ws)
        return ws

    async def _read(self, ws: web.WebSocketResponse, conn: Connection) -> None:
        arrivals: deque[float] = deque()
        limit = self.settings.max_incoming_per_s
        async for msg in ws:
            now = time.monotonic()
            arrivals.append(now)
            while arrivals and arrivals[0] <= now - 1.0:
                arrivals.popleft()
            if len(arrivals) > limit:
                conn.request_close("Too many messages")
                break
            if msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                conn.last_pong = now
            elif msg.type is WSMsgType.TEXT:
                reply = self._control(conn, msg.data)
                if reply is not None and not conn.stalled:
                    await ws.send_str(reply.decode())
            elif msg.type is WSMsgType.BINARY:
                await ws.send_str(BINARY_ERROR)
        if conn.close_reason is not None and not ws.closed:
            await ws.close(code=1008, message=conn.close_reason.encode())

    async def _supervise(self, ws: web.WebSocketResponse, conn: Connection) -> None:
        settings = self.settings
        started = time.monotonic()
        conn.last_pong = started
        next_ping = started + settings.ping_interval
        while True:
            now = time.monotonic()
            deadline = min(next_ping, started + settings.lifetime)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - now)):
                    await conn.close_requested.wait()
            now = time.monotonic()
            if conn.close_reason == "abort":
                conn.transport.abort()
                return
            if conn.close_reason is not None:
                await ws.close(code=1008, message=conn.close_reason.encode())
                return
            if now >= started + settings.lifetime:
                await ws.close(code=1001, message=b"Connection lifetime expired")
                return
            if now >= next_ping:
                next_ping = now + settings.ping_interval
                if conn.stalled:
                    continue
                if now - conn.last_pong > settings.pong_timeout:
                    await ws.close(code=1008, message=b"Pong timeout")
                    return
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.ping(b"")

    # ---- control messages -----------------------------------------------------------------------
    def _control(self, conn: Connection, text: str) -> bytes | None:
        request_id: Any = None
        try:
            try:
                message = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise RequestError(3, "Invalid JSON: expected value at line 1 column 1") from None
            if not isinstance(message, dict):
                raise RequestError(2, "Invalid request: expected an object")
            request_id = message.get("id")
            if "method" not in message:
                raise RequestError(2, "Invalid request: missing field `method`")
            if request_id is not None and (
                isinstance(request_id, bool)
                or not isinstance(request_id, int | str)
                or (isinstance(request_id, int) and request_id < 0)
            ):
                request_id = None
                raise RequestError(2, "Invalid request: request ID must be an unsigned integer")
            method = message["method"]
            if method not in METHODS:
                raise RequestError(
                    2,
                    f"Invalid request: unknown variant `{method}`, expected one of "
                    + ", ".join(f"`{m}`" for m in METHODS),
                )
            result = self._dispatch(conn, method, message.get("params", []))
        except RequestError as exc:
            return orjson.dumps({"error": {"code": exc.code, "msg": exc.msg}, "id": request_id})
        return orjson.dumps({"result": result, "id": request_id})

    def _dispatch(self, conn: Connection, method: str, params: Any) -> Any:
        if not isinstance(params, list):
            raise RequestError(2, "Invalid request: params must be an array")
        if method == "LIST_SUBSCRIPTIONS":
            return list(conn.streams)
        if method == "SET_PROPERTY":
            if len(params) != 2 or params[0] != "combined":
                raise RequestError(0, "Unknown property")
            if not isinstance(params[1], bool):
                raise RequestError(1, "Invalid value type: expected Boolean")
            conn.combined = params[1]
            return None
        if method == "GET_PROPERTY":
            if params != ["combined"]:
                raise RequestError(0, "Unknown property")
            return conn.combined
        if not all(isinstance(p, str) for p in params):
            raise RequestError(2, "Invalid request: stream names must be strings")
        if method == "UNSUBSCRIBE":
            self.hub.unsubscribe(conn, params)
            return None
        streams: list[Stream] = []
        for name in params:
            stream = parse_stream(name)
            if stream is None:
                raise RequestError(2, "Invalid request: invalid stream")
            streams.append(stream)
        if len(set(conn.streams) | {s.name for s in streams}) > MAX_STREAMS:
            raise RequestError(2, f"Invalid request: too many streams (max {MAX_STREAMS} per connection)")
        self.hub.subscribe(conn, streams)
        return None

    async def close_all(
        self,
        code: int = 1001,
        message: bytes = b"Server shutdown",
        only: Collection[web.WebSocketResponse] | None = None,
    ) -> None:
        """Close every open websocket (or those of ``only`` still open)."""
        for ws in list(self.sockets):
            if only is None or ws in only:
                with contextlib.suppress(Exception):
                    await ws.close(code=code, message=message)
