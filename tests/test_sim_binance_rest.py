"""The simulated Binance REST API: shapes against real payloads, parameters, errors, weights, limits."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchanges.binance.sim import BinanceVenue
from tests.support.binance_sim import running_venue


@pytest.fixture
async def venue() -> AsyncIterator[BinanceVenue]:
    async with running_venue() as started:
        yield started


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(http: aiohttp.ClientSession, venue: BinanceVenue, path: str) -> tuple[int, Any, Any]:
    async with http.get(venue.base_urls()["api"] + path) as response:
        return response.status, await response.json(content_type=None), response.headers


def shape(value: Any) -> Any:
    """The JSON type skeleton of a payload: keys and value kinds (numeric strings as 'decimal')."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return "str"
        return "decimal"
    return type(value).__name__


def load(fixtures_dir: Path, name: str) -> Any:
    return json.loads((fixtures_dir / "binance" / name).read_text())


@pytest.mark.parametrize(
    ("path", "fixture"),
    [
        ("/ping", "rest_ping.json"),
        ("/time", "rest_time.json"),
        ("/depth?symbol=BTCUSDT&limit=5", "rest_depth_BTCUSDT_limit2.json"),
        ("/trades?symbol=BTCUSDT&limit=3", "rest_trades.json"),
        ("/aggTrades?symbol=BTCUSDT&limit=3", "rest_aggTrades.json"),
        ("/klines?symbol=BTCUSDT&interval=1h&limit=3", "rest_klines.json"),
        ("/ticker/24hr?symbol=BTCUSDT", "rest_ticker_24hr.json"),
        ('/ticker/24hr?symbols=["BNBBTC","LTCBTC"]&type=MINI', "rest_ticker_24hr_mini_list.json"),
        ("/ticker/price?symbol=ETHBTC", "rest_ticker_price.json"),
        ("/ticker/price", "rest_ticker_price_list.json"),
        ("/ticker/bookTicker?symbol=ETHBTC", "rest_ticker_bookTicker.json"),
        ("/ticker/bookTicker", "rest_ticker_bookTicker_list.json"),
        ("/avgPrice?symbol=BTCUSDT", "rest_avgPrice.json"),
    ],
)
async def test_bodies_have_binance_shapes(
    venue: BinanceVenue, http: aiohttp.ClientSession, fixtures_dir: Path, path: str, fixture: str
) -> None:
    status, body, headers = await get(http, venue, path)
    assert status == 200
    assert shape(body) == shape(load(fixtures_dir, fixture))
    assert headers["Content-Type"].startswith("application/json")


async def test_exchange_info_symbol_entries_match_the_current_schema(
    venue: BinanceVenue, http: aiohttp.ClientSession, fixtures_dir: Path
) -> None:
    status, body, _ = await get(http, venue, "/exchangeInfo")
    assert status == 200
    assert len(body["symbols"]) == 50
    real = load(fixtures_dir, "rest_exchangeInfo_symbol_entries_recent.json")[0]
    ours = next(s for s in body["symbols"] if s["symbol"] == "BTCUSDT")
    assert set(real) - set(ours) <= {"permissions"} | set(ours)
    filters = {f["filterType"]: f for f in ours["filters"]}
    assert {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"} <= set(filters)
    assert shape(filters["PRICE_FILTER"]) == shape(
        next(f for f in real["filters"] if f["filterType"] == "PRICE_FILTER")
    )
    assert body["rateLimits"][0] == {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "MINUTE",
        "intervalNum": 1,
        "limit": 6000,
    }
    status, one, _ = await get(http, venue, "/exchangeInfo?symbol=ETHBTC")
    assert [s["symbol"] for s in one["symbols"]] == ["ETHBTC"]
    status, two, _ = await get(http, venue, '/exchangeInfo?symbols=["ETHBTC","BNBETH"]')
    assert [s["symbol"] for s in two["symbols"]] == ["ETHBTC", "BNBETH"]
    status, margin, _ = await get(http, venue, '/exchangeInfo?permissions=["MARGIN"]')
    assert margin["symbols"] and all(s["quoteAsset"] in {"USDT", "BTC"} for s in margin["symbols"])


async def test_decimals_have_eight_places_and_respect_the_tick(
    venue: BinanceVenue, http: aiohttp.ClientSession
) -> None:
    _, book, _ = await get(http, venue, "/depth?symbol=ETHBTC&limit=20")
    for price, qty in book["bids"] + book["asks"]:
        assert len(price.split(".")[1]) == 8 and len(qty.split(".")[1]) == 8
        assert int(price.replace(".", "")) % venue.engine.market("ETHBTC").spec.tick == 0
    assert book["bids"][0][0] < book["asks"][0][0]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/depth?symbol=NOPEUSDT", 400, -1121),
        ("/depth", 400, -1102),
        ("/depth?symbol=", 400, -1105),
        ("/depth?symbol=btc$usdt", 400, -1100),
        ("/depth?symbol=BTCUSDT&limit=ten", 400, -1100),
        ("/klines?symbol=BTCUSDT", 400, -1102),
        ("/klines?symbol=BTCUSDT&interval=2m", 400, -1120),
        ("/klines?symbol=BTCUSDT&interval=1h&startTime=5&endTime=1", 400, -1023),
        ('/ticker/24hr?symbols=["BTCUSDT","NOPE"]', 400, -1121),
        ("/ticker/24hr?symbols=BTCUSDT", 400, -1100),
        ("/ticker/24hr?symbol=BTCUSDT&type=HUGE", 400, -1139),
        ('/ticker/price?symbol=BTCUSDT&symbols=["ETHBTC"]', 400, -1128),
    ],
)
async def test_documented_errors(
    venue: BinanceVenue, http: aiohttp.ClientSession, path: str, status: int, code: int
) -> None:
    got, body, _ = await get(http, venue, path)
    assert got == status
    assert body["code"] == code and isinstance(body["msg"], str) and set(body) == {"code", "msg"}


async def test_invalid_symbol_body_is_the_documented_one(
    venue: BinanceVenue, http: aiohttp.ClientSession, fixtures_dir: Path
) -> None:
    _, body, _ = await get(http, venue, "/ticker/24hr?symbol=NOPEUSDT")
    assert body == load(fixtures_dir, "rest_error_invalid_symbol.json")


@pytest.mark.parametrize(("limit", "weight"), [(5, 5), (100, 5), (500, 25), (1000, 50), (5000, 250)])
async def test_depth_weight_follows_the_limit(
    venue: BinanceVenue, http: aiohttp.ClientSession, limit: int, weight: int
) -> None:
    _, _, headers = await get(http, venue, "/ping")
    before = int(headers["X-MBX-USED-WEIGHT-1M"])
    _, body, headers = await get(http, venue, f"/depth?symbol=BTCUSDT&limit={limit}")
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) - before in (weight, weight + 1)  # +1 if a minute rolled
    assert headers["X-MBX-USED-WEIGHT"] == headers["X-MBX-USED-WEIGHT-1M"]
    assert len(body["bids"]) == min(limit, len(body["bids"]))


async def test_weights_of_ticker_variants(venue: BinanceVenue, http: aiohttp.ClientSession) -> None:
    cases = [
        ("/ticker/24hr?symbol=BTCUSDT", 2),
        ("/ticker/24hr", 80),
        ("/exchangeInfo", 20),
        ("/klines?symbol=BTCUSDT&interval=1m", 2),
    ]
    for path, weight in cases:
        _, _, before = await get(http, venue, "/ping")
        _, _, after = await get(http, venue, path)
        assert int(after["X-MBX-USED-WEIGHT-1M"]) - int(before["X-MBX-USED-WEIGHT-1M"]) == weight


async def test_klines_select_like_binance(venue: BinanceVenue, http: aiohttp.ClientSession) -> None:
    _, latest, _ = await get(http, venue, "/klines?symbol=BTCUSDT&interval=1m&limit=1000")
    assert len(latest) == 1000
    opens = [row[0] for row in latest]
    assert opens == sorted(opens) and all(b - a == 60_000 for a, b in itertools.pairwise(opens))
    start = opens[10] + 1
    _, page, _ = await get(http, venue, f"/klines?symbol=BTCUSDT&interval=1m&startTime={start}&limit=3")
    assert [row[0] for row in page] == opens[11:14]  # first row opens at or after startTime
    _, until, _ = await get(http, venue, f"/klines?symbol=BTCUSDT&interval=1m&endTime={opens[20]}&limit=2")
    assert [row[0] for row in until] == opens[19:21]
    _, utc, _ = await get(http, venue, "/klines?symbol=BTCUSDT&interval=1h&limit=2&timeZone=0")
    assert len(utc) == 2
    status, body, _ = await get(http, venue, "/klines?symbol=BTCUSDT&interval=1d&timeZone=8")
    assert status == 400 and body["code"] == -1130


async def test_429_carries_retry_after_then_418_bans() -> None:
    async with running_venue(faults={"weight_limit": 10}) as venue, aiohttp.ClientSession() as http:
        answers = [await get(http, venue, "/time") for _ in range(16)]
    statuses = [status for status, _, _ in answers]
    # a minute boundary may reset the window once; the sequence is still ok... 429 ... 418
    assert 429 in statuses and 418 in statuses
    assert statuses.index(200) < statuses.index(429) < statuses.index(418)
    for status, body, headers in answers:
        if status in (429, 418):
            assert body["code"] == -1003
            assert int(headers["Retry-After"]) >= 1
            assert int(headers["X-MBX-USED-WEIGHT-1M"]) > 10 or status == 418
    banned = next(a for a in answers if a[0] == 418)
    assert "banned until" in banned[1]["msg"]
    assert int(banned[2]["Retry-After"]) > 60


async def test_http_error_and_malformed_json_faults() -> None:
    async with running_venue(faults={"http_error_every": 3, "malformed_every": 4}) as venue:  # noqa: SIM117 - the inner context needs the venue
        async with aiohttp.ClientSession() as http:
            results = []
            for _ in range(8):
                async with http.get(venue.base_urls()["api"] + "/depth?symbol=BTCUSDT&limit=5") as response:
                    results.append((response.status, await response.read()))
    assert [status for status, _ in results] == [200, 200, 503, 200, 200, 503, 200, 200]
    for index in (3, 7):  # requests 4 and 8
        with pytest.raises(json.JSONDecodeError):
            json.loads(results[index][1])
    json.loads(results[0][1])


async def test_latency_fault_and_admin_api() -> None:
    async with running_venue() as venue, aiohttp.ClientSession() as http:
        admin = venue.base_urls()["admin"]
        async with http.post(admin + "/faults", json={"latency_ms": 300}) as response:
            assert (await response.json())["latency_ms"] == 300
        loop_time = __import__("asyncio").get_running_loop().time
        started = loop_time()
        await get(http, venue, "/ping")
        assert loop_time() - started >= 0.3
        async with http.post(admin + "/faults", json={"bogus": 1}) as response:
            assert response.status == 400
        async with http.post(admin + "/faults", json={"reset": True}) as response:
            assert (await response.json())["latency_ms"] == 0
        async with http.get(admin + "/state") as response:
            state = await response.json()
        assert state["venue"] == "binance" and state["symbols"] == 50


async def test_admin_faults_get_post_delete(venue: BinanceVenue, http: aiohttp.ClientSession) -> None:
    url = venue.base_urls()["admin"] + "/faults"
    async with http.post(url, json={"drop_every": 3, "weight_limit": 100}) as response:
        body = await response.json()
        assert (body["drop_every"], body["weight_limit"]) == (3, 100)
    async with http.post(url, json={"drop_evry": 3}) as response:
        assert response.status == 400
        assert "unknown fault 'drop_evry'" in (await response.json())["error"]
    async with http.get(url) as response:
        assert (await response.json())["drop_every"] == 3
    async with http.delete(url) as response:
        body = await response.json()
        assert (body["drop_every"], body["weight_limit"]) == (0, 6000)
