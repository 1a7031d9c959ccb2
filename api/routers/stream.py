"""``/v1/stream``: the live push websocket (protocol in :mod:`api.push.protocol`)."""

from __future__ import annotations

import asyncio
import logging

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from api.errors import UnknownInstanceError
from api.push.client import PushClient
from api.push.protocol import Command, ProtocolError, snapshot_of, topics_of
from api.state import ApiState
from core.errors import QuotewireError, StorageError, UnknownSymbolError

log = logging.getLogger(__name__)
router = APIRouter(tags=["stream"])


@router.websocket("/v1/stream")
async def stream(ws: WebSocket) -> None:
    """Subscribe to channels of instances and symbols; receive a snapshot, then every update."""
    api: ApiState = ws.state.api
    await ws.accept()
    tuning = api.tuning
    client = PushClient(
        max_queue=tuning.push_queue_size,
        batch_max=tuning.push_batch_max,
        heartbeat=tuning.heartbeat_interval,
        metrics=api.metrics,
        clock=tuning.clock,
    )
    api.hub.attach(client)
    try:
        async with asyncio.TaskGroup() as tasks:
            sender = tasks.create_task(client.send_loop(ws), name="ws-send")
            receiver = tasks.create_task(_receive(ws, api, client), name="ws-receive")
            await client.closed.wait()
            receiver.cancel()
            sender.cancel()
    finally:
        api.hub.detach(client)
    if client.close_code not in (1000, 1006):
        try:
            async with asyncio.timeout(1.0):
                await ws.close(client.close_code, client.close_reason)
        except (TimeoutError, RuntimeError, OSError):
            log.info("push: could not close a stalled client cleanly (%s)", client.close_reason)


async def _receive(ws: WebSocket, api: ApiState, client: PushClient) -> None:
    """Handle client commands until the client leaves."""
    try:
        while True:
            text = await ws.receive_text()
            try:
                await _handle(api, client, text)
            except ProtocolError as exc:
                client.send_frame(exc.frame())
    except (WebSocketDisconnect, RuntimeError, KeyError):
        client.close(1000, "client left")


async def _handle(api: ApiState, client: PushClient, text: str) -> None:
    try:
        command = Command.model_validate(orjson.loads(text))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ProtocolError("invalid_message", f"not a valid command: {str(exc).splitlines()[0]}") from None
    if command.op == "ping":
        client.send_frame({"type": "pong", "time": api.now_ms()})
        return
    try:
        topics = await topics_of(api, command)
        if command.op == "unsubscribe":
            api.hub.unsubscribe(client, topics)
            client.send_frame({"type": "unsubscribed", "topics": [t.as_dict() for t in topics]})
            return
        api.hub.subscribe(client, topics)
        client.send_frame({"type": "subscribed", "topics": [t.as_dict() for t in topics]})
        client.snapshot(await snapshot_of(api, topics))
    except UnknownSymbolError as exc:
        raise ProtocolError("unknown_symbol", str(exc), exc.suggestions) from None
    except StorageError:
        raise ProtocolError(
            "store_unavailable", "the market-data store is unreachable; retry later"
        ) from None
    except UnknownInstanceError as exc:
        raise ProtocolError("unknown_instance", str(exc), exc.suggestions) from None
    except QuotewireError as exc:
        raise ProtocolError("error", str(exc)) from None
