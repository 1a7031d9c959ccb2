"""REST v1 against a real redis-server and a real uvicorn socket: every endpoint, spelling and interval."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from api.settings import ApiTuning
from core.intervals import ALL_INTERVALS, Interval
from core.models import Channel
from core.store import StoreWriter
from core.store.codec import encode
from tests import factories as f
from tests.api_helpers import api_config
from tests.support.api_data import OTHER, FixedClock, Seeded, seed
from tests.support.api_server import ThreadedApi
from tests.support.redis_server import RedisServer

SPELLINGS = ("BTC-USDT", "btcusdt", "BTCUSDT", "btc_usdt", "btc-usdt")
NOW = f.T0 + 1000


@pytest.fixture
async def seeded(redis_url: str) -> Seeded:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        return await seed(writer)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def server(redis_url: str, seeded: Seeded, clock: FixedClock) -> Iterator[ThreadedApi]:
    with ThreadedApi(api_config(redis_url), ApiTuning(clock=clock, catalog_ttl=0.0)) as api:
        yield api


@pytest.fixture
async def client(server: ThreadedApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        yield http


def stored(record: Any) -> dict[str, Any]:
    """A record as the API must serve it: exactly the stored JSON."""
    value: dict[str, Any] = orjson.loads(encode(record))
    return value


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


async def test_exchanges_list_instances_with_freshness(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/exchanges")).json()
    by_name = {e["name"]: e for e in body["data"]}
    assert set(by_name) == {f.INSTANCE, OTHER}
    mine = by_name[f.INSTANCE]
    assert mine["meta"] == {"plugin": "test", "simulated": True}
    assert mine["markets"] == 3 and mine["streams"] > 12 and mine["receive_time"] is not None
    assert mine["age_ms"] >= 0 and mine["stale"] in (True, False)
    assert mine["counters"] == {"resyncs": 2, "reconnects": 1}
    assert by_name[OTHER]["markets"] == 2 and by_name[OTHER]["counters"] == {}


async def test_markets_are_served_with_exact_decimals(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/v1/exchanges/{f.INSTANCE}/markets")).json()
    assert body["source"] == f.INSTANCE
    assert body["data"] == [stored(f.market(s)) for s in ("BTC/USDT", "ETH/BTC", "ETH/USDT")]
    assert body["data"][0]["price_increment"] == "0.01000000"


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize(
    ("path", "record"),
    [("ticker", f.ticker()), ("quote", f.quote()), ("price", f.price()), ("depth", f.book())],
)
async def test_latest_values_for_every_spelling(
    client: httpx.AsyncClient, spelling: str, path: str, record: Any
) -> None:
    response = await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/{spelling}/{path}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["data"] == stored(record)
    assert body["source"] == f.INSTANCE and body["symbol"] == "BTC/USDT"
    assert body["event_time"] == record.event_time and body["receive_time"] == record.receive_time
    assert body["age_ms"] == NOW - record.receive_time and body["stale"] is False


async def test_stale_flag_past_stale_after(client: httpx.AsyncClient, clock: FixedClock) -> None:
    clock.now = f.T0 + 1 + 5000
    assert (await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDT/quote")).json()["stale"] is False
    clock.now = f.T0 + 1 + 5001
    body = (await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDT/quote")).json()
    assert body["stale"] is True and body["age_ms"] == 5001


async def test_data_that_reached_the_collector_late_is_stale(
    redis_url: str, client: httpx.AsyncClient
) -> None:
    """A collector lagging the market writes old data with fresh receive times: its exchange event
    time gives it away."""
    late = f.quote("ETH/USDT", t=NOW - 5001).model_copy(update={"receive_time": NOW})
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        writer.put(late)
        await writer.flush()
    body = (await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/ETH-USDT/quote")).json()
    assert body["receive_time"] == NOW and body["age_ms"] == 0
    assert body["stale"] is True


async def test_depth_levels_truncate_each_side(client: httpx.AsyncClient) -> None:
    body = (
        await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/BTCUSDT/depth", params={"levels": 1})
    ).json()
    assert body["data"]["bids"] == [["43210.11000000", "0.50000000"]]
    assert body["data"]["asks"] == [["43210.12000000", "1.00000000"]]


@pytest.mark.parametrize(
    ("path", "channel"), [("tickers", "ticker"), ("quotes", "quote"), ("prices", "price")]
)
async def test_bulk_many_symbols_in_one_call(client: httpx.AsyncClient, path: str, channel: str) -> None:
    body = (
        await client.get(f"/v1/exchanges/{OTHER}/{path}", params={"symbols": "BTC-USDT,ethusdt,btc_usdt"})
    ).json()
    assert body["source"] == OTHER
    if channel == "quote":
        assert [q["symbol"] for q in body["data"]] == ["BTC/USDT", "ETH/USDT"] and body["missing"] == []
        assert body["data"][0]["data"]["bid"] == "43210.50000000"
    else:  # the other venue stores only quotes
        assert body["data"] == [] and body["missing"] == ["BTC/USDT", "ETH/USDT"]


async def test_bulk_unknown_symbol_is_404_with_suggestions(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/exchanges/{f.INSTANCE}/quotes", params={"symbols": "BTC-USDT,ETH-USDX"})
    error = assert_error(response, 404, "unknown_symbol")
    assert "ETH/USDT" in error["suggestions"]


async def test_cross_exchange_best_bid_and_ask(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/symbols/btcusdt/quote")).json()
    assert body["symbol"] == "BTC/USDT"
    assert body["best_bid"]["instance"] == OTHER and body["best_bid"]["price"] == "43210.50000000"
    assert body["best_ask"]["price"] == "43210.12000000"
    assert {q["source"] for q in body["quotes"]} == {f.INSTANCE, OTHER}
    only_here = (await client.get("/v1/symbols/ETH-BTC/quote")).json()
    assert [q["source"] for q in only_here["quotes"]] == [f.INSTANCE]
    assert_error(await client.get("/v1/symbols/DOGE-USDT/quote"), 404, "unknown_symbol")


async def test_trades_page_newest_first_without_repeats(client: httpx.AsyncClient, seeded: Seeded) -> None:
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        body = (await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/btcusdt/trades", params=params)).json()
        ids += [t["id"] for t in body["data"]]
        assert body["receive_time"] == f.T0 + 1 and body["source"] == f.INSTANCE
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert ids == [str(i) for i in range(seeded.trades, 0, -1)]


@pytest.mark.parametrize("interval", ALL_INTERVALS)
async def test_klines_pages_cover_every_candle_once(
    client: httpx.AsyncClient, seeded: Seeded, interval: Interval
) -> None:
    expected = [stored(k) for k in reversed(seeded.klines[interval])]
    got: list[dict[str, Any]] = []
    cursor: int | None = None
    for _ in range(10):
        params: dict[str, Any] = {"interval": interval.value, "limit": 10} | (
            {"cursor": cursor} if cursor else {}
        )
        body = (await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDT/klines", params=params)).json()
        assert body["interval"] == interval.value and body["symbol"] == "BTC/USDT"
        got += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert got == expected  # newest first, none repeated, none skipped


async def test_klines_start_end_bounds(client: httpx.AsyncClient, seeded: Seeded) -> None:
    series = seeded.klines[Interval.M5]
    start, end = series[5].open_time, series[14].open_time
    params: dict[str, Any] = {"interval": "5m", "start": start, "end": end, "limit": 4}
    times: list[int] = []
    while True:
        body = (await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDT/klines", params=params)).json()
        times += [k["open_time"] for k in body["data"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert times == [k.open_time for k in reversed(series[5:15])]


async def test_unknown_instance_and_symbol_are_404_with_suggestions(client: httpx.AsyncClient) -> None:
    error = assert_error(
        await client.get("/v1/exchanges/test-venu/symbols/BTC-USDT/quote"), 404, "unknown_instance"
    )
    assert f.INSTANCE in error["suggestions"]
    error = assert_error(
        await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDX/quote"), 404, "unknown_symbol"
    )
    assert error["suggestions"][0] == "BTC/USDT"
    assert_error(await client.get(f"/v1/exchanges/{OTHER}/symbols/ETH-BTC/quote"), 404, "unknown_symbol")
    assert_error(await client.get(f"/v1/exchanges/{OTHER}/symbols/BTC-USDT/ticker"), 404, "not_found")
    assert_error(await client.get("/nowhere"), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("symbols/BTC-USDT/depth", {"levels": 0}),
        ("symbols/BTC-USDT/depth", {"levels": "many"}),
        ("symbols/BTC-USDT/trades", {"limit": 5000}),
        ("symbols/BTC-USDT/trades", {"cursor": "yesterday"}),
        ("symbols/BTC-USDT/klines", {}),
        ("symbols/BTC-USDT/klines", {"interval": "2m"}),
        ("symbols/BTC-USDT/klines", {"interval": "1m", "start": -1}),
        ("quotes", {}),
        ("quotes", {"symbols": ","}),
        ("quotes", {"symbols": ",".join(["BTC-USDT"] * 201)}),
    ],
)
async def test_bad_parameters_are_422_in_the_error_shape(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> None:
    response = await client.get(f"/v1/exchanges/{f.INSTANCE}/{path}", params=params)
    assert_error(response, 422, "invalid_parameter")


async def test_redis_down_is_503_with_retry_after(
    client: httpx.AsyncClient, redis_server: RedisServer, redis_url: str
) -> None:
    assert (await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDT/quote")).status_code == 200
    redis_server.stop()
    try:
        for path in (f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDT/quote", "/v1/exchanges", "/ready"):
            response = await client.get(path)
            assert_error(response, 503, "store_unavailable")
            assert int(response.headers["retry-after"]) > 0
            assert "Traceback" not in response.text
        assert (await client.get("/health")).status_code == 200
    finally:
        redis_server.start()


async def test_freshness_of_lists_comes_from_the_stream(client: httpx.AsyncClient) -> None:
    body = (
        await client.get(f"/v1/exchanges/{f.INSTANCE}/symbols/BTC-USDT/klines", params={"interval": "1h"})
    ).json()
    assert body["receive_time"] == Interval.H1.open_time(f.T0) + 2
    assert body["stale"] is True  # the newest hourly candle was received long before NOW
    assert Channel.KLINE.value == body["data"][0]["channel"]
