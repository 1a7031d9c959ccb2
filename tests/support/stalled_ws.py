"""A websocket client that subscribes and then never reads again, with a tiny receive buffer."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
from types import TracebackType
from typing import Self


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    if len(payload) < 126:
        header = struct.pack("!BB", 0x81, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class StalledClient:
    """Connects to ``ws://127.0.0.1:{port}{path}``, sends one message, reads until ``until``, then stalls."""

    def __init__(self, port: int, path: str, message: bytes, *, until: bytes) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._sock.settimeout(10)
        self._port, self._path, self._message, self._until = port, path, message, until

    def __enter__(self) -> Self:
        self._sock.connect(("127.0.0.1", self._port))
        key = base64.b64encode(os.urandom(16)).decode()
        self._sock.sendall(
            f"GET {self._path} HTTP/1.1\r\nHost: 127.0.0.1:{self._port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        seen = b""
        deadline = time.monotonic() + 10
        while b"\r\n\r\n" not in seen and time.monotonic() < deadline:
            seen += self._sock.recv(4096)
        self._sock.sendall(_masked_text_frame(self._message))
        while self._until not in seen and time.monotonic() < deadline:
            seen += self._sock.recv(65536)
        if self._until not in seen:
            self._sock.close()
            raise RuntimeError("the stalled client never saw its subscription confirmed")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._sock.close()
