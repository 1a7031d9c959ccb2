"""The legacy ``/GetData/`` endpoint: exactly the stored candles, ten a page, newest first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from api.settings import ApiTuning
from core.intervals import ALL_INTERVALS, LEGACY_MINUTE_CODES, Interval
from core.store import StoreWriter
from tests import factories as f
from tests.api_helpers import api_config
from tests.support.api_data import KLINES_PER_INTERVAL, OTHER, Seeded, seed
from tests.support.api_server import ThreadedApi


@pytest.fixture
async def seeded(redis_url: str) -> Seeded:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        return await seed(writer)


@pytest.fixture
def server(redis_url: str, seeded: Seeded) -> Iterator[ThreadedApi]:
    with ThreadedApi(api_config(redis_url, legacy_instance=f.INSTANCE), ApiTuning(catalog_ttl=0.0)) as api:
        yield api


@pytest.fixture
async def client(server: ThreadedApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        yield http


def legacy(kline: Any) -> dict[str, Any]:
    return {
        "id": kline.open_time // 1000, "open": str(kline.open), "close": str(kline.close),
        "low": str(kline.low), "high": str(kline.high), "amount": str(kline.volume),
        "vol": str(kline.quote_volume), "count": kline.trades,
    }  # fmt: skip


@pytest.mark.parametrize("minutes", LEGACY_MINUTE_CODES)
async def test_every_type_pages_through_the_stored_candles(
    client: httpx.AsyncClient, seeded: Seeded, minutes: int
) -> None:
    expected = [legacy(k) for k in reversed(seeded.klines[Interval.from_minutes(minutes)])]
    pages = -(-KLINES_PER_INTERVAL // 10)
    got: list[dict[str, Any]] = []
    for page in range(1, pages + 2):
        response = await client.get(
            "/GetData/", params={"pageSize": page, "type": minutes, "code": "btcusdt"}
        )
        assert response.status_code == 200
        body = response.json()
        assert len(body) == (10 if page < pages else KLINES_PER_INTERVAL % 10 if page == pages else 0)
        got += body
    assert got == expected


async def test_decimals_are_the_stored_text(client: httpx.AsyncClient) -> None:
    body = (await client.get("/GetData/", params={"pageSize": 1, "type": 1, "code": "btcusdt"})).json()
    assert body[0]["open"] == "43000.00000000" and body[0]["amount"] == "12.34500000"


async def test_without_trailing_slash(client: httpx.AsyncClient) -> None:
    slash = await client.get("/GetData/", params={"pageSize": 2, "type": 60, "code": "btcusdt"})
    bare = await client.get("/GetData", params={"pageSize": 2, "type": 60, "code": "btcusdt"})
    assert bare.status_code == 200 and bare.json() == slash.json() and len(bare.json()) == 10


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"pageSize": 1, "type": 2, "code": "btcusdt"}, 422, "invalid_parameter"),
        ({"pageSize": 1, "type": "1m", "code": "btcusdt"}, 422, "invalid_parameter"),
        ({"pageSize": 0, "type": 1, "code": "btcusdt"}, 422, "invalid_parameter"),
        ({"pageSize": -3, "type": 1, "code": "btcusdt"}, 422, "invalid_parameter"),
        ({"pageSize": "x", "type": 1, "code": "btcusdt"}, 422, "invalid_parameter"),
        ({"type": 1, "code": "btcusdt"}, 422, "invalid_parameter"),
        ({"pageSize": 1, "code": "btcusdt"}, 422, "invalid_parameter"),
        ({"pageSize": 1, "type": 1}, 422, "invalid_parameter"),
        ({"pageSize": 1, "type": 1, "code": "btcusdx"}, 404, "unknown_symbol"),
    ],
)
async def test_bad_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], status: int, code: str
) -> None:
    response = await client.get("/GetData/", params=params)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_the_only_instance_is_used_when_none_is_configured(redis_url: str) -> None:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        writer.put_markets(OTHER, [f.market("BTC/USDT", OTHER)], {"plugin": "test"})
        writer.put_many(
            k.model_copy(update={"instance": OTHER}) for k in [f.kline(interval=i) for i in ALL_INTERVALS]
        )
        await writer.flush()
    with ThreadedApi(api_config(redis_url)) as api:
        async with httpx.AsyncClient(base_url=api.url) as http:
            body = (
                await http.get("/GetData/", params={"pageSize": 1, "type": 1440, "code": "BTCUSDT"})
            ).json()
    assert [c["id"] for c in body] == [Interval.D1.open_time(f.T0) // 1000]


async def test_ambiguous_instance_is_a_clear_404(
    client: httpx.AsyncClient, redis_url: str, seeded: Seeded
) -> None:
    with ThreadedApi(api_config(redis_url)) as api:  # two instances, none configured
        async with httpx.AsyncClient(base_url=api.url) as http:
            response = await http.get("/GetData/", params={"pageSize": 1, "type": 1, "code": "btcusdt"})
    assert response.status_code == 404 and "legacy_instance" in response.json()["error"]["message"]
