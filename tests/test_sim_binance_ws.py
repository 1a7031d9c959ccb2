"""Websocket protocol and faults of the simulated Binance venue, seen by a raw aiohttp client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.binance_sim import collect, next_json, running_venue


async def data_frames(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[Any]:
    frames = await collect(ws, count)
    return [f for f in frames if "result" not in f]


async def test_subscribe_list_unsubscribe_and_errors() -> None:
    async with running_venue() as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["ws"]) as ws:
            await ws.send_str('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}')
            assert await next_json(ws) == {"result": None, "id": 1}
            await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":3}')
            listed = await next_json(ws)
            while "result" not in listed:
                listed = await next_json(ws)
            assert listed == {"result": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 3}
            await ws.send_str('{"method":"UNSUBSCRIBE","params":["btcusdt@depth"],"id":312}')
            reply = await next_json(ws)
            while "id" not in reply:
                reply = await next_json(ws)
            assert reply == {"result": None, "id": 312}
            await ws.send_str('{"method":"NOPE","id":4}')
            await asyncio.sleep(0.3)
            await ws.send_str("not json")
            errors: list[Any] = []
            async with asyncio.timeout(5):
                while len(errors) < 2:
                    frame = await next_json(ws)
                    if "error" in frame:
                        errors.append(frame)
            assert errors[0]["error"]["code"] == 2 and errors[0]["id"] == 4
            assert errors[1]["error"]["code"] == 3


async def test_combined_stream_frames_and_all_stream_kinds() -> None:
    names = [
        "btcusdt@trade",
        "btcusdt@aggTrade",
        "btcusdt@bookTicker",
        "btcusdt@kline_1m",
        "btcusdt@ticker",
        "btcusdt@miniTicker",
        "btcusdt@depth5@100ms",
        "btcusdt@depth@100ms",
        "!miniTicker@arr",
    ]
    async with running_venue() as venue, aiohttp.ClientSession() as http:
        url = venue.base_urls()["stream"] + "?streams=" + "/".join(names)
        async with http.ws_connect(url) as ws:
            seen: dict[str, Any] = {}
            async with asyncio.timeout(10):
                while len(seen) < len(names):
                    frame = await next_json(ws)
                    assert set(frame) == {"stream", "data"}
                    seen[frame["stream"]] = frame["data"]
    assert seen["btcusdt@trade"]["e"] == "trade"
    assert seen["btcusdt@aggTrade"]["e"] == "aggTrade"
    assert set(seen["btcusdt@bookTicker"]) == {"u", "s", "b", "B", "a", "A"}
    assert seen["btcusdt@kline_1m"]["k"]["i"] == "1m"
    assert seen["btcusdt@ticker"]["e"] == "24hrTicker"
    assert seen["btcusdt@miniTicker"]["e"] == "24hrMiniTicker"
    assert len(seen["btcusdt@depth5@100ms"]["bids"]) == 5
    assert seen["btcusdt@depth@100ms"]["e"] == "depthUpdate"
    assert isinstance(seen["!miniTicker@arr"], list)


async def test_diff_stream_lines_up_with_the_rest_snapshot() -> None:
    async with running_venue() as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["ws"] + "/btcusdt@depth@100ms") as ws:
            first = await next_json(ws)
            async with http.get(venue.base_urls()["api"] + "/depth?symbol=BTCUSDT&limit=1000") as response:
                snapshot = await response.json()
            events = [first] + await collect(ws, 15)
    last = snapshot["lastUpdateId"]
    usable = [e for e in events if e["u"] > last]
    assert usable[0]["U"] <= last + 1 <= usable[0]["u"]
    for before, after in itertools.pairwise(usable):
        assert after["U"] == before["u"] + 1


async def test_gap_fault_is_visible_in_U_and_u() -> None:
    async with running_venue(faults={"gap_every": 3}) as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["ws"] + "/btcusdt@depth@100ms") as ws:
            events = await collect(ws, 6)
    gaps = [after["U"] - before["u"] - 1 for before, after in itertools.pairwise(events)]
    assert [g > 0 for g in gaps] == [False, True, False, True, False]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"drop_every": 3}, [1, 2, 4, 5, 7, 8]),
        ({"duplicate_every": 3}, [1, 2, 3, 3, 4, 5]),
        ({"reorder_every": 3}, [1, 2, 4, 3, 5, 7]),
    ],
)
async def test_drop_duplicate_reorder_are_exact(fault: dict[str, int], expected: list[int]) -> None:
    async with running_venue(faults=fault) as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["ws"] + "/btcusdt@trade") as ws:
            trades = await collect(ws, len(expected))
    ids = [t["t"] for t in trades]
    base = min(ids) - 1 if fault.get("drop_every") is None else ids[0] - 1
    assert [i - base for i in ids] == expected


async def test_disconnect_after_n_messages() -> None:
    async with running_venue(faults={"disconnect_after": 4}) as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["ws"] + "/btcusdt@trade") as ws:
            got = 0
            async with asyncio.timeout(10):
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        got += 1
    assert got == 4


async def test_stall_keeps_the_socket_open_and_silent() -> None:
    async with (  # noqa: SIM117 - the inner context needs the venue
        running_venue(faults={"stall_after": 2}, ping_interval=0.2) as venue,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(venue.base_urls()["ws"] + "/btcusdt@trade", autoping=False) as ws:
            await collect(ws, 2)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.receive(), 1.0)  # no data, no ping
            assert not ws.closed


async def test_server_shutdown_event_arrives_in_both_forms() -> None:
    async with running_venue() as venue, aiohttp.ClientSession() as http:
        urls = venue.base_urls()
        async with (
            http.ws_connect(urls["ws"]) as raw,
            http.ws_connect(urls["stream"] + "?streams=") as combined,
        ):
            await asyncio.sleep(0.2)
            async with http.post(
                urls["admin"] + "/inject", json={"event": "serverShutdown", "close_after_ms": 200}
            ):
                pass
            assert (await next_json(raw))["e"] == "serverShutdown"
            frame = await next_json(combined)
            assert frame["stream"] == "!serverShutdown" and frame["data"]["e"] == "serverShutdown"
            closing = await asyncio.wait_for(raw.receive(), 5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_server_shutdown_closes_only_the_connections_it_was_announced_on() -> None:
    """A client that reconnects on ``serverShutdown`` lands on a connection that stays (on Binance, on
    another server)."""
    async with running_venue() as venue, aiohttp.ClientSession() as http:
        urls = venue.base_urls()
        async with http.ws_connect(urls["ws"] + "/btcusdt@trade") as old:
            await collect(old, 1)
            venue.server_shutdown(close_after_ms=200)
            async with http.ws_connect(urls["ws"] + "/btcusdt@trade") as new:
                async with asyncio.timeout(5):
                    while (msg := await old.receive()).type is aiohttp.WSMsgType.TEXT:
                        pass
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert old.close_code == 1001
                loop = asyncio.get_running_loop()
                until = loop.time() + 0.5  # long past the close: every frame on the new one is data
                kinds = set()
                while loop.time() < until:
                    kinds.add((await asyncio.wait_for(new.receive(), 5)).type)
                assert kinds == {aiohttp.WSMsgType.TEXT} and not new.closed


async def test_server_pings_and_lifetime_close() -> None:
    async with running_venue(ping_interval=0.2, lifetime=1.0) as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["ws"], autoping=False) as ws:
            ping = await asyncio.wait_for(ws.receive(), 3)
            assert ping.type is aiohttp.WSMsgType.PING
            await ws.pong(ping.data)
            async with asyncio.timeout(5):
                while (msg := await ws.receive()).type is aiohttp.WSMsgType.PING:
                    await ws.pong(msg.data)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1001


async def test_more_than_five_messages_a_second_closes_the_connection() -> None:
    async with running_venue() as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["ws"]) as ws:
            for i in range(7):
                await ws.send_str(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
            async with asyncio.timeout(5):
                async for _ in ws:
                    pass
            assert ws.close_code == 1008


async def test_stream_limit_per_connection() -> None:
    async with running_venue() as venue, aiohttp.ClientSession() as http:
        async with http.ws_connect(venue.base_urls()["ws"]) as ws:
            names = ["btcusdt@kline_1m"]
            params = [f"s{i}usdt@trade" for i in range(1025)]
            await ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": params, "id": 9}).decode())
            reply = await next_json(ws)
            assert reply["id"] == 9 and reply["error"]["code"] == 2
            await ws.send_str(orjson.dumps({"method": "SUBSCRIBE", "params": names, "id": 10}).decode())
            assert await next_json(ws) == {"result": None, "id": 10}
        too_many = "/".join(f"s{i}usdt@trade" for i in range(1025))
        async with http.ws_connect(venue.base_urls()["stream"] + "?streams=" + too_many) as ws:
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1008


async def test_latency_fault_delays_frames() -> None:
    async with running_venue(faults={"latency_ms": 500}) as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["ws"] + "/btcusdt@trade") as ws:
            frame = await next_json(ws)
            lag = venue.clock.now_ms() - frame["E"]
    assert lag >= 450


async def test_the_venue_counts_how_late_its_frames_leave() -> None:
    """``send_lag_ms`` in ``/_sim/state``: frames written, by ms after their event time (the venue's
    own share of a client's event-to-receive latency, which bench.collect prints)."""
    async with running_venue() as venue, aiohttp.ClientSession() as http:
        async with http.ws_connect(venue.base_urls()["ws"] + "/btcusdt@trade") as ws:
            await collect(ws, 5)
        async with http.get(venue.base_urls()["rest"] + "/_sim/state") as response:
            state = await response.json()
    lags = state["send_lag_ms"]
    assert sum(lags.values()) >= 5
    assert all(0 <= int(lag) < 1_000 for lag in lags)
    by_kind = state["send_lag_ms_by_kind"]
    assert set(by_kind) == {"trades", "quote", "depth", "ticker", "kline"}
    assert sum(by_kind["trades"].values()) >= 5  # only trades were subscribed
    assert sum(sum(counts.values()) for counts in by_kind.values()) == sum(lags.values())


async def test_partial_depth_streams_follow_subscribe_and_unsubscribe() -> None:
    async with running_venue() as venue, aiohttp.ClientSession() as http:  # noqa: SIM117 - the inner context needs the venue
        async with http.ws_connect(venue.base_urls()["stream"] + "?streams=btcusdt@trade") as ws:

            async def streams_seen(seconds: float) -> set[str]:
                """The streams of the frames that arrive within ``seconds``.

                A deadline checked per frame, not an outer ``asyncio.timeout``: on Python 3.11 the
                ``wait_for`` inside ``next_json`` can swallow its cancellation when a frame arrives
                at the same moment, and the loop then never ends while frames keep coming."""
                seen: set[str] = set()
                deadline = asyncio.get_running_loop().time() + seconds
                while (left := deadline - asyncio.get_running_loop().time()) > 0:
                    with contextlib.suppress(TimeoutError):
                        seen.add((await next_json(ws, within=left)).get("stream", ""))
                return seen

            await ws.send_str(
                '{"method":"SUBSCRIBE","params":["btcusdt@depth10","ethusdt@depth5@100ms"],"id":1}'
            )
            assert {"btcusdt@depth10", "ethusdt@depth5@100ms"} <= await streams_seen(2.5)
            await ws.send_str('{"method":"UNSUBSCRIBE","params":["ethusdt@depth5@100ms"],"id":2}')
            await streams_seen(0.3)  # frames already on their way
            later = await streams_seen(2.5)
            assert "ethusdt@depth5@100ms" not in later and "btcusdt@depth10" in later
            await ws.send_str('{"method":"SUBSCRIBE","params":["ethusdt@depth5@100ms"],"id":3}')
            assert "ethusdt@depth5@100ms" in await streams_seen(2.5)
