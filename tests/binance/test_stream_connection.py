"""The websocket transport of :class:`StreamSession` (aiohttp) against the simulated venue on loopback:
server pings answered, closes and failures typed as :class:`TransientError`, and the client session
closed on every exit path."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from core import websocket
from core.clock import SYSTEM_CLOCK
from core.errors import TransientError
from core.models import Market
from core.venue import SimulatedVenue
from exchanges.binance import streams
from exchanges.binance.frames import StreamStats
from exchanges.binance.parsers import BinanceParser, DepthSnapshot
from exchanges.binance.streams import Plan, StreamSession
from tests.binance.test_adapter_venue import start_venue
from tests.support.endless_ws import endless_venue


@pytest.fixture
def client_sessions(monkeypatch: pytest.MonkeyPatch) -> list[aiohttp.ClientSession]:
    """Every aiohttp client session opened during the test (to check each one was closed)."""
    opened: list[aiohttp.ClientSession] = []
    real = aiohttp.ClientSession

    def tracked(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        created = real(*args, **kwargs)
        opened.append(created)
        return created

    monkeypatch.setattr(aiohttp, "ClientSession", tracked)
    return opened


def session(base_url: str, venue: SimulatedVenue | None = None) -> StreamSession:
    markets: list[Market] = []
    if venue is not None:
        engine: Any = venue.engine  # type: ignore[attr-defined]
        markets = [
            Market(
                instance="t",
                symbol=f"{m.spec.base}/{m.spec.quote}",
                native_id=native,
                base=m.spec.base,
                quote=m.spec.quote,
                receive_time=0,
            )
            for native, m in engine.markets.items()
        ]

    async def no_snapshot(symbol: str, limit: int, urgent: bool) -> DepthSnapshot:
        raise AssertionError(symbol)

    return StreamSession(
        base_url=base_url,
        parser=BinanceParser("t", markets),
        fetch_snapshot=no_snapshot,
        depth_levels=5,
        clock=SYSTEM_CLOCK,
        stats=StreamStats(),
    )


def quote_plan(venue: SimulatedVenue) -> Plan:
    engine: Any = venue.engine  # type: ignore[attr-defined]
    return Plan([f"{native.lower()}@bookTicker" for native in engine.markets], {})


async def read_calling(records: AsyncIterator[Any], action: Callable[[], object]) -> None:
    """Read ``records``, calling ``action`` after each batch, until the stream raises (bounded)."""
    async with asyncio.timeout(10):
        async for _ in records:
            action()


async def read_for(records: AsyncIterator[Any], seconds: float) -> int:
    """Batches read from ``records`` in ``seconds`` (raises what the stream raises; bounded)."""
    batches = 0
    deadline = time.monotonic() + seconds
    async with asyncio.timeout(seconds + 10):
        async for _ in records:
            batches += 1
            if time.monotonic() >= deadline:
                break
    return batches


async def test_server_pings_are_answered(client_sessions: list[aiohttp.ClientSession]) -> None:
    # a ping every 0.25 s (4 incoming messages/s stay under the venue's limit of 5), and the venue
    # closes a connection whose pong is 0.6 s late: surviving 2 s means every ping was answered
    venue = await start_venue(ping_interval=0.25, pong_timeout=0.6)
    try:
        records = session(venue.instance_urls()["websocket"], venue).run(quote_plan(venue))
        try:
            assert await read_for(records, 2.0) > 10
            connections = list(venue.hub.connections)  # type: ignore[attr-defined]
            assert len(connections) == 1
            assert time.monotonic() - connections[0].last_pong < 0.6
        finally:
            await records.aclose()  # type: ignore[attr-defined]
    finally:
        await venue.stop()
    assert len(client_sessions) == 1
    assert all(s.closed for s in client_sessions)


async def test_a_close_by_the_venue_is_transient_with_its_code(
    client_sessions: list[aiohttp.ClientSession],
) -> None:
    venue = await start_venue(lifetime=0.5)
    try:
        records = session(venue.instance_urls()["websocket"], venue).run(quote_plan(venue))
        with pytest.raises(
            TransientError,
            match=r"^binance: websocket closed by the venue \(code 1001, Connection lifetime expired\)$",
        ):
            await read_for(records, 10.0)
    finally:
        await venue.stop()
    assert client_sessions
    assert all(s.closed for s in client_sessions)


async def test_a_lost_connection_is_transient(client_sessions: list[aiohttp.ClientSession]) -> None:
    venue = await start_venue()
    try:
        records = session(venue.instance_urls()["websocket"], venue).run(quote_plan(venue))
        disconnect = venue.disconnect_all  # type: ignore[attr-defined]
        with pytest.raises(TransientError, match=r"^binance: websocket closed"):
            await read_calling(records, disconnect)
    finally:
        await venue.stop()
    assert all(s.closed for s in client_sessions)


async def test_a_refused_open_is_transient(client_sessions: list[aiohttp.ClientSession]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it once the probe is closed
    base = f"ws://127.0.0.1:{port}"
    with pytest.raises(TransientError, match=rf"^binance: cannot open {base}: ClientConnectorError"):
        await read_for(session(base).run(Plan(["btcusdt@trade"], {})), 10.0)
    assert len(client_sessions) == 1
    assert client_sessions[0].closed


async def test_an_open_without_handshake_times_out(
    client_sessions: list[aiohttp.ClientSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "OPEN_TIMEOUT_S", 0.3)
    with socket.socket() as listener:  # the kernel accepts the connection; nobody answers it
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        base = f"ws://127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(TransientError, match=rf"^binance: cannot open {base}: TimeoutError"):
            await read_for(session(base).run(Plan(["btcusdt@trade"], {})), 10.0)
        assert time.monotonic() - started < 5
    assert len(client_sessions) == 1
    assert client_sessions[0].closed


async def test_cancelling_the_stream_closes_the_client_session(
    client_sessions: list[aiohttp.ClientSession],
) -> None:
    venue = await start_venue()
    try:
        stats = StreamStats()
        stream = session(venue.instance_urls()["websocket"], venue)
        stream.stats = stats
        records = stream.run(quote_plan(venue))
        reader = asyncio.create_task(read_for(records, 30.0))
        async with asyncio.timeout(10):
            while stats.frames < 20:  # noqa: ASYNC110 - polls a counter, bounded by the timeout
                await asyncio.sleep(0.01)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await records.aclose()  # type: ignore[attr-defined]
        async with asyncio.timeout(5):
            while venue.hub.connections:  # type: ignore[attr-defined]  # noqa: ASYNC110 - bounded
                await asyncio.sleep(0.01)
    finally:
        await venue.stop()
    assert len(client_sessions) == 1
    assert client_sessions[0].closed


async def test_closing_does_not_wait_for_a_venue_that_keeps_streaming(
    client_sessions: list[aiohttp.ClientSession],
) -> None:
    """Cancelling the stream ends within the close bound even when the venue keeps sending and
    never answers the close frame (before, the close read the stream for as long as it lasted);
    the client session is closed."""
    server = await asyncio.start_server(endless_venue, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        stats = StreamStats()
        stream = session(f"ws://127.0.0.1:{port}")
        stream.stats = stats
        records = stream.run(Plan(["btcusdt@bookTicker"], {}))
        reader = asyncio.create_task(read_for(records, 30.0))
        async with asyncio.timeout(10):
            while stats.frames < 20:  # noqa: ASYNC110 - polls a counter, bounded by the timeout
                await asyncio.sleep(0.01)
        reader.cancel()  # lands while frames wait: the reader yields between them
        done, _ = await asyncio.wait({reader}, timeout=websocket.CLOSE_TIMEOUT_S + 3)
        assert done, "the connection was still closing"
        assert reader.cancelled()
        async with asyncio.timeout(5):
            await records.aclose()  # type: ignore[attr-defined]
        assert stats.malformed == {}
    finally:
        server.close()
    assert len(client_sessions) == 1
    assert client_sessions[0].closed


async def test_text_and_binary_frames_both_reach_the_parser() -> None:
    seen: list[str | bytes] = []

    class Recording(StreamSession):
        def _on_frame(self, message: str | bytes, receive_time: int) -> None:
            seen.append(message)

    async def handler(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        ws = aiohttp.web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"id":1,"result":null}')
        await ws.send_bytes(b'{"id":2,"result":null}')
        await ws.close()
        return ws

    app = aiohttp.web.Application()
    app.router.add_get("/stream", handler)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        recording = Recording(
            base_url=f"ws://127.0.0.1:{port}",
            parser=BinanceParser("t"),
            fetch_snapshot=session("ws://127.0.0.1:9").fetch_snapshot,
            depth_levels=5,
            clock=SYSTEM_CLOCK,
            stats=StreamStats(),
        )
        with pytest.raises(TransientError, match=r"closed by the venue \(code 1000\)"):
            await read_for(recording.run(Plan(["btcusdt@trade"], {})), 10.0)
    finally:
        await runner.cleanup()
    assert seen == ['{"id":1,"result":null}', b'{"id":2,"result":null}']
