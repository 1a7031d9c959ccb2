"""Recording what the simulated venue's hub sends, without a socket (benchmarks and tests)."""

from __future__ import annotations


class CaptureTransport:
    """Stands in for a connection's ``asyncio.Transport``: keeps every write, never backs up."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def take_payloads(self) -> list[bytes]:
        """The payloads of every frame written since the last call."""
        out = [p for chunk in self.chunks for p in payloads(chunk)]
        self.chunks.clear()
        return out


def payloads(stream: bytes) -> list[bytes]:
    """The payloads of a run of unmasked websocket frames, as the hub writes them."""
    out: list[bytes] = []
    view, at = memoryview(stream), 0
    while at < len(stream):
        size, head = stream[at + 1] & 0x7F, 2
        if size == 126:
            size, head = int.from_bytes(stream[at + 2 : at + 4], "big"), 4
        elif size == 127:
            size, head = int.from_bytes(stream[at + 2 : at + 10], "big"), 10
        out.append(bytes(view[at + head : at + head + size]))
        at += head + size
    return out
