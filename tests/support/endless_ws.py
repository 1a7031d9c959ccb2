"""A websocket venue that streams and never reads: it never answers a close frame."""

from __future__ import annotations

import asyncio
import base64
import hashlib


async def endless_venue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A websocket server that answers the handshake, then sends frames and never reads again: it
    never answers a close frame, as a venue does whose answer is queued behind seconds of frames."""
    request = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    payload = b'{"result": null, "id": 1}'
    frame = bytes([0x81, len(payload)]) + payload  # unmasked text frame, as servers send
    try:
        for _ in range(100_000):  # bounded; the test ends long before
            writer.write(frame * 1000)
            await writer.drain()
            await asyncio.sleep(0.001)
    except ConnectionError:
        pass
    finally:
        writer.close()
