"""The ``/ws`` and ``/feed`` websocket endpoints: ``sub``, ``unsub``, ``req``, ``ping``/``pong``.

Requests are JSON text (or gzip, both accepted). Acks follow the docs::

    {"id": "id1", "status": "ok", "subbed": "market.btcusdt.kline.1min", "ts": 1489474081631}
    {"id": "id4", "status": "ok", "unsubbed": "market.btcusdt.trade.detail", "ts": 1494326028889}
    {"id": "id2", "rep": "market.btcusdt.mbp.5", "status": "ok", "ts": …, "data": {"seqNum": …}}
    {"ts": …, "status": "error", "err-code": "bad-request", "err-msg": "invalid topic …", "id": "2"}
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from exchanges.huobi.sim import codec
from exchanges.huobi.sim.hub import Hub
from exchanges.huobi.sim.session import Session
from exchanges.huobi.sim.topics import Topic, parse_topic

log = logging.getLogger(__name__)
HUB = web.AppKey("huobi_hub", Hub)
PING_INTERVAL = web.AppKey("huobi_ping_interval", float)
SESSIONS = web.AppKey("huobi_sessions", set[Session])


def _bad(session: Session, message: str, request_id: Any) -> None:
    error = codec.error("bad-request", message, session.ctx.clock.now_ms())
    if request_id is not None:
        error["id"] = request_id
    session.control(error)


def _decode(data: str | bytes) -> Any:
    raw = gzip.decompress(data) if isinstance(data, bytes) and data[:2] == b"\x1f\x8b" else data
    return json.loads(raw)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """One client connection until it closes, is dropped for missed pongs, or a fault ends it."""
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    app = request.app
    hub = app[HUB]
    session = Session(ws, hub.ctx, app[PING_INTERVAL])
    app[SESSIONS].add(session)
    writer = asyncio.create_task(session.run_writer(), name="huobi-sim-writer")
    heartbeat = asyncio.create_task(session.run_heartbeat(), name="huobi-sim-heartbeat")
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            try:
                message = _decode(msg.data)
            except (ValueError, OSError, EOFError):
                _bad(session, "not json string", None)
                continue
            if isinstance(message, dict):
                handle(hub, session, message)
            else:
                _bad(session, "not json string", None)
    finally:
        hub.drop(session)
        app[SESSIONS].discard(session)
        session.close()
        heartbeat.cancel()
        try:
            await asyncio.wait_for(writer, 1.0)
        except (TimeoutError, ConnectionError, RuntimeError):
            writer.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        if not ws.closed:
            await ws.close()
    return ws


def _topic(hub: Hub, session: Session, name: Any, request_id: Any) -> Topic | None:
    topic = parse_topic(name) if isinstance(name, str) else None
    if topic is None:
        _bad(session, f"invalid topic {name}", request_id)
        return None
    if hub.ctx.market(topic.symbol) is None:
        _bad(session, "invalid symbol", request_id)
        return None
    return topic


def handle(hub: Hub, session: Session, message: dict[str, Any]) -> None:
    """Answer one client message."""
    now = hub.ctx.clock.now_ms()
    request_id = message.get("id")
    if "pong" in message:
        session.pong(message["pong"])
    elif "ping" in message:
        session.control({"pong": message["ping"]})
    elif "sub" in message:
        topic = _topic(hub, session, message["sub"], request_id)
        if topic is not None:
            session.control({"id": request_id, "status": "ok", "subbed": topic.name, "ts": now})
            hub.subscribe(session, topic)
    elif "unsub" in message:
        name = message["unsub"]
        if hub.unsubscribe(session, str(name)):
            session.control({"id": request_id, "status": "ok", "unsubbed": name, "ts": now})
        else:
            _bad(session, "unsub with not subbed topic", request_id)
    elif "req" in message:
        topic = _topic(hub, session, message["req"], request_id)
        if topic is not None:
            data = request_data(hub, topic, message, now)
            if data is None:
                _bad(session, f"invalid topic {topic.name}", request_id)
            else:
                session.control(
                    {"id": request_id, "rep": topic.name, "status": "ok", "ts": now, "data": data}
                )
    else:
        _bad(session, "invalid request", request_id)


def request_data(hub: Hub, topic: Topic, message: dict[str, Any], now: int) -> Any:
    """The ``data`` of a ``req`` reply (None when the topic cannot be requested)."""
    market = hub.ctx.market(topic.symbol)
    assert market is not None
    engine = hub.ctx.engine
    if topic.kind == "mbp":
        return hub.view(market, topic.levels).snapshot()
    if topic.kind == "kline":
        start, end = message.get("from"), message.get("to")
        candles = engine.klines(
            market.symbol,
            codec.PERIODS[topic.period],
            start_ms=int(start) * 1000 if isinstance(start, int) else None,
            end_ms=int(end) * 1000 if isinstance(end, int) else None,
            limit=300,
            now_ms=now,
        )
        return [codec.kline_tick(c) for c in candles]
    if topic.kind == "trade.detail":
        trades = list(market.trades)[-300:]
        return [codec.trade_entry(t, ws=True) for t in reversed(trades)]
    rendered = hub.render(market, topic, now)
    return None if rendered is None else rendered["tick"]
