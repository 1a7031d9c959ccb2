"""A TCP proxy on loopback that can swallow one direction: a reply lost on the way back, or a
request that never reaches the server, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Literal, Self

Swallow = Literal["requests", "replies"] | None


class TcpProxy:
    """Forwards every connection to ``host:port``; :attr:`swallow` drops one direction's bytes."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.swallow: Swallow = None
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, url: str) -> str:
        """``url`` (``redis://host:port/db``) through this proxy."""
        host, port = self.target
        return url.replace(f"//{host}:{port}/", f"//127.0.0.1:{self.port}/")

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection(*self.target)
        pumps = [
            asyncio.create_task(self._pump(client_in, server_out, "requests")),
            asyncio.create_task(self._pump(server_in, client_out, "replies")),
        ]
        self._pumps.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        self._pumps.difference_update(pumps)
        for out in (client_out, server_out):
            out.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, kind: Swallow) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                if self.swallow != kind:
                    sink.write(data)
                    await sink.drain()
