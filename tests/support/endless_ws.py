"""Raw websocket venues on loopback that send and never read: they never answer a close frame."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import Awaitable, Callable, Sequence

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer a client's websocket handshake."""
    request = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accepted = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accepted + b"\r\n\r\n"
    )


def text_frame(payload: bytes) -> bytes:
    """An unmasked websocket text frame, as servers send."""
    if len(payload) < 126:
        return bytes([0x81, len(payload)]) + payload
    return struct.pack("!BBH", 0x81, 126, len(payload)) + payload


async def endless_venue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends frames for as long as the client reads, never answering its close frame, as a venue
    does whose answer is queued behind seconds of frames."""
    await accept(reader, writer)
    frame = text_frame(b'{"result": null, "id": 1}')
    try:
        for _ in range(100_000):  # bounded; a test ends long before
            writer.write(frame * 1000)
            await writer.drain()
            await asyncio.sleep(0.001)
    except ConnectionError:
        pass
    finally:
        writer.close()


def burst_venue(payloads: Sequence[bytes]) -> Handler:
    """A venue that writes ``payloads`` all at once after the handshake, then stays silent (for at
    most a minute) until the client goes."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept(reader, writer)
        writer.write(b"".join(map(text_frame, payloads)))
        try:
            await writer.drain()
            async with asyncio.timeout(60):
                await reader.read()  # returns when the client has gone
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    return serve
