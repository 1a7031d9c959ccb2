"""The simulated HTX venue driven by ccxt ``htx`` (REST) and ccxt.pro ``htx`` (websockets), and its faults."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from exchanges.huobi.sim import HuobiVenue

SPOT_ONLY = {"fetchMarkets": {"types": {"spot": True, "linear": False, "inverse": False}}}
TIMEFRAMES = ["1m", "5m", "15m", "30m", "1h", "1d", "1w", "1M"]


@pytest.fixture
async def venue() -> AsyncIterator[HuobiVenue]:
    async with HuobiVenue(symbols=12, ping_interval=0.3) as running:
        yield running


def rest_client(venue: HuobiVenue, module: Any = ccxt_async) -> Any:
    exchange = module.htx({"options": SPOT_ONLY})
    for key, url in list(exchange.urls["api"].items()):
        if isinstance(url, str):
            exchange.urls["api"][key] = venue.base_urls()["rest"]
    return exchange


def pro_client(venue: HuobiVenue) -> Any:
    exchange = rest_client(venue, ccxt_pro)
    urls = venue.base_urls()
    exchange.urls["api"]["ws"]["api"]["spot"] = {
        "public": urls["websocket"],
        "feed": urls["feed"],
        "private": urls["websocket"],
    }
    return exchange


async def test_ccxt_rest_endpoints(venue: HuobiVenue) -> None:
    exchange = rest_client(venue)
    try:
        markets = await exchange.load_markets()
        assert markets["BTC/USDT"]["id"] == "btcusdt" and markets["BTC/USDT"]["spot"]
        ticker = await exchange.fetch_ticker("BTC/USDT")
        assert ticker["bid"] < ticker["ask"] and ticker["last"] > 0
        tickers = await exchange.fetch_tickers(["BTC/USDT", "ETH/USDT"])
        assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
        book = await exchange.fetch_order_book("ETH/USDT", 10)
        assert len(book["bids"]) == 10 and book["bids"][0][0] < book["asks"][0][0]
        trades = await exchange.fetch_trades("BTC/USDT", limit=20)
        assert trades and all(t["side"] in ("buy", "sell") for t in trades)
        for timeframe in TIMEFRAMES:
            rows = await exchange.fetch_ohlcv("BTC/USDT", timeframe, limit=5)
            assert len(rows) == 5, timeframe
            assert [r[0] for r in rows] == sorted(r[0] for r in rows)
        daily = await exchange.fetch_ohlcv("BTC/USDT", "1d", limit=2)
        assert daily[-1][0] % 86_400_000 == 16 * 3_600_000  # midnight UTC+8
    finally:
        await exchange.close()


async def test_error_envelopes_reach_ccxt_as_its_errors(venue: HuobiVenue) -> None:
    base = venue.base_urls()["rest"]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/market/detail/merged?symbol=nosuch") as response:
            body = await response.json()
        assert body["status"] == "error" and body["err-msg"] == "invalid symbol"
        async with http.get(f"{base}/market/history/kline?symbol=btcusdt&period=2min") as response:
            assert (await response.json())["err-msg"] == "invalid period"
        async with http.get(f"{base}/market/history/kline?symbol=btcusdt&period=1min&size=2001") as response:
            assert (await response.json())["err-msg"] == "invalid size,valid range: [1, 2000]"


async def test_rate_limit_answers_request_limit(venue: HuobiVenue) -> None:
    venue.faults.update({"request_limit": 3})
    exchange = rest_client(venue)
    exchange.enableRateLimit = False
    try:
        await exchange.load_markets()  # symbols + currencies: 2 requests
        await exchange.fetch_ticker("BTC/USDT")
        with pytest.raises(ccxt.RateLimitExceeded):
            await exchange.fetch_ticker("BTC/USDT")
    finally:
        await exchange.close()


async def test_http_5xx_and_malformed_body_faults(venue: HuobiVenue) -> None:
    base = venue.base_urls()["rest"]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/_sim/faults", json={"http_error_every": 2, "malformed_every": 3}
        ) as response:
            assert (await response.json())["http_error_every"] == 2
        statuses, bodies = [], []
        for _ in range(3):
            async with http.get(f"{base}/v1/common/timestamp") as response:
                statuses.append(response.status)
                bodies.append(await response.text())
        assert statuses == [200, 503, 200]
        json.loads(bodies[0])
        with pytest.raises(json.JSONDecodeError):
            json.loads(bodies[2])
        async with http.delete(f"{base}/_sim/faults") as response:
            assert (await response.json())["http_error_every"] == 0


async def test_ccxt_pro_watches(venue: HuobiVenue) -> None:
    exchange = pro_client(venue)
    try:
        ticker = await asyncio.wait_for(exchange.watch_ticker("BTC/USDT"), 10)
        assert ticker["last"] > 0
        trades = await asyncio.wait_for(exchange.watch_trades("BTC/USDT"), 10)
        assert trades[0]["symbol"] == "BTC/USDT"
        candles = await asyncio.wait_for(exchange.watch_ohlcv("BTC/USDT", "1m"), 10)
        assert candles[-1][0] % 60_000 == 0
        for _ in range(5):
            book = await asyncio.wait_for(exchange.watch_order_book("BTC/USDT", 20), 10)
        market = venue.engine.market("BTCUSDT")
        assert book["nonce"] <= market.update_id
        view = venue.hub.views[("BTCUSDT", 20)]
        if book["nonce"] == view.seq:  # same state: identical to the venue's published book
            expected = [[float(p) / 1e8, float(q) / 1e8] for p, q in sorted(view.bids.items(), reverse=True)]
            assert [[pytest.approx(p), pytest.approx(q)] for p, q in book["bids"]] == expected
    finally:
        await exchange.close()


async def _raw_ws(url: str, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(url)


async def _next(ws: aiohttp.ClientWebSocketResponse, *, skip_pings: bool = True) -> Any:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type is aiohttp.WSMsgType.BINARY, msg
        message = json.loads(gzip.decompress(msg.data))
        if skip_pings and "ping" in message:
            await ws.send_str(json.dumps({"pong": message["ping"]}))
            continue
        return message


async def test_ws_acks_errors_and_mbp_chain(venue: HuobiVenue) -> None:
    urls = venue.base_urls()
    async with aiohttp.ClientSession() as http:
        ws = await _raw_ws(urls["feed"], http)
        await ws.send_str(json.dumps({"sub": "market.btcusdt.mbp.5", "id": "a"}))
        ack = await _next(ws)
        assert ack["id"] == "a" and ack["status"] == "ok" and ack["subbed"] == "market.btcusdt.mbp.5"
        await ws.send_str(json.dumps({"sub": "market.btcusdt.nope", "id": "b"}))
        error = await _next(ws)
        while "err-code" not in error:
            error = await _next(ws)
        assert error["err-code"] == "bad-request" and error["id"] == "b"
        await ws.send_str(json.dumps({"req": "market.btcusdt.mbp.5", "id": "c"}))
        seq = None
        chained = 0
        while chained < 5:
            message = await _next(ws)
            if message.get("rep"):
                seq = message["data"]["seqNum"]
            elif seq is not None and "tick" in message:
                if message["tick"]["seqNum"] <= seq:
                    continue
                assert message["tick"]["prevSeqNum"] == seq
                seq = message["tick"]["seqNum"]
                chained += 1
        await ws.close()


async def test_ws_gap_fault_breaks_the_chain(venue: HuobiVenue) -> None:
    venue.faults.update({"gap_every": 3})
    async with aiohttp.ClientSession() as http:
        ws = await _raw_ws(venue.base_urls()["feed"], http)
        await ws.send_str(json.dumps({"sub": "market.btcusdt.mbp.150", "id": "a"}))
        await _next(ws)
        ticks: list[dict[str, Any]] = []
        while len(ticks) < 4:
            message = await _next(ws)
            if "tick" in message:
                ticks.append(message["tick"])
        links = [b["prevSeqNum"] == a["seqNum"] for a, b in itertools.pairwise(ticks)]
        assert False in links
        await ws.close()


async def test_ws_missed_pongs_disconnect_and_no_heartbeat_fault(venue: HuobiVenue) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await _raw_ws(venue.base_urls()["websocket"], http)
        pings = 0
        while True:
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type is not aiohttp.WSMsgType.BINARY:
                break
            pings += "ping" in json.loads(gzip.decompress(msg.data))
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert pings == 2
        venue.faults.update({"no_heartbeat": 1})
        ws = await _raw_ws(venue.base_urls()["websocket"], http)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.receive(), 1.0)
        await ws.close()


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("drop_every", lambda frames: True),
        ("duplicate_every", lambda frames: frames[1] == frames[2]),
        ("disconnect_after", lambda frames: frames[-1] is None),
        ("malformed_gzip_every", lambda frames: frames[1] == "bad-gzip"),
        ("malformed_json_every", lambda frames: frames[1] == "bad-json"),
    ],
)
async def test_ws_frame_faults(venue: HuobiVenue, fault: str, check: Any) -> None:
    venue.faults.update({fault: 2, "no_heartbeat": 1})
    async with aiohttp.ClientSession() as http:
        ws = await _raw_ws(venue.base_urls()["websocket"], http)
        await ws.send_str(json.dumps({"sub": "market.btcusdt.trade.detail", "id": "t"}))
        frames: list[Any] = []
        deadline = 8 if fault == "drop_every" else 3
        while len(frames) < deadline:
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type is not aiohttp.WSMsgType.BINARY:
                frames.append(None)
                break
            try:
                text = gzip.decompress(msg.data)
            except (OSError, EOFError, zlib.error):
                frames.append("bad-gzip")
                continue
            try:
                message = json.loads(text)
            except ValueError:
                frames.append("bad-json")
                continue
            if "subbed" not in message:
                frames.append(message)
        if fault == "drop_every":
            (session,) = venue.hub.subscribers["market.btcusdt.trade.detail"]
            ids = [f["tick"]["id"] for f in frames if isinstance(f, dict)]
            assert len(set(ids)) == len(ids)
            assert session.sent_data >= 2 * len(frames) - 1  # every second frame was never sent
        else:
            assert check(frames), frames
        await ws.close()


async def test_ws_stall_fault_stops_data(venue: HuobiVenue) -> None:
    venue.faults.update({"stall_after": 1, "no_heartbeat": 1})
    async with aiohttp.ClientSession() as http:
        ws = await _raw_ws(venue.base_urls()["websocket"], http)
        await ws.send_str(json.dumps({"sub": "market.btcusdt.bbo", "id": "s"}))
        assert "subbed" in await _next(ws)
        assert "tick" in await _next(ws)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.receive(), 1.0)
        await ws.close()


async def test_latency_fault_delays_rest_and_websocket_data(venue: HuobiVenue) -> None:
    venue.faults.update({"latency_ms": 300, "no_heartbeat": 1})
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        started = loop.time()
        async with http.get(f"{venue.base_urls()['rest']}/market/detail/merged?symbol=btcusdt") as response:
            assert response.status == 200
        assert loop.time() - started >= 0.3  # the answer cannot come before the added latency
        ws = await _raw_ws(venue.base_urls()["websocket"], http)
        await ws.send_str(json.dumps({"sub": "market.btcusdt.bbo", "id": "l"}))
        started = loop.time()
        assert "subbed" in await _next(ws)
        assert "tick" in await _next(ws)
        assert loop.time() - started >= 0.3
        await ws.close()


async def test_reorder_fault_delivers_mbp_updates_out_of_order(venue: HuobiVenue) -> None:
    venue.faults.update({"reorder_every": 2, "no_heartbeat": 1})
    async with aiohttp.ClientSession() as http:
        ws = await _raw_ws(venue.base_urls()["feed"], http)
        await ws.send_str(json.dumps({"sub": "market.btcusdt.mbp.150", "id": "r"}))
        seqs: list[int] = []
        while len(seqs) < 8:
            message = await _next(ws)
            if "tick" in message:
                seqs.append(message["tick"]["seqNum"])
        assert any(b < a for a, b in itertools.pairwise(seqs)), seqs  # a held-back update arrives late
        assert sorted(seqs) != seqs
        await ws.close()
