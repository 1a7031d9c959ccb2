"""The hot routes (``api.hot``) answer exactly as the FastAPI routes they shortcut, byte for byte.

Two servers on the same store, one with ``hot_routes`` and one without, get the same requests: plain
ones the middleware answers and odd ones it must leave to FastAPI's validation.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from api.catalog import Catalog
from api.errors import UnknownInstanceError
from api.hot import HotRoutes, legacy_query
from api.metrics import ApiMetrics
from api.push.hub import Hub
from api.settings import ApiTuning
from api.state import ApiState
from core.errors import UnknownSymbolError
from core.intervals import Interval
from core.store import StoreReader, StoreWriter
from tests import factories as f
from tests.api_helpers import api_config
from tests.support.api_data import OTHER, FixedClock, seed
from tests.support.api_server import ThreadedApi
from tests.support.collector import ManualClock
from tests.support.redis_server import RedisServer

LATEST = f"/v1/exchanges/{f.INSTANCE}/symbols"
REQUESTS = [
    *(
        f"{LATEST}/{s}/{leaf}"
        for s in ("BTC-USDT", "btcusdt", "eth_btc")
        for leaf in ("quote", "ticker", "price")
    ),
    f"/v1/exchanges/{OTHER}/symbols/BTC-USDT/quote",
    f"/v1/exchanges/{OTHER}/symbols/ETH-BTC/quote",  # not a market of OTHER
    f"/v1/exchanges/{OTHER}/symbols/BTC-USDT/ticker",  # a market with nothing stored
    "/v1/exchanges/nowhere/symbols/BTC-USDT/quote",
    f"{LATEST}/BTC-USDX/quote",
    f"{LATEST}/{'B' * 65}/quote",  # too long: FastAPI's 422
    f"/v1/exchanges/{'x' * 65}/symbols/BTC-USDT/price",
    f"{LATEST}/BTC-USDT/quote/",
    f"{LATEST}/BTC%2FUSDT/quote",
    f"{LATEST}/BTC-USDT/depth",
    "/GetData/?pageSize=1&type=1&code=btcusdt",
    "/GetData?pageSize=2&type=60&code=BTC-USDT",
    "/GetData/?pageSize=4&type=1440&code=btcusdt",  # past the end: []
    "/GetData/?code=btcusdt&type=5&pageSize=3&extra=1",
    "/GetData/?pageSize=1&pageSize=2&type=1&code=btcusdt",  # the last repeat wins
    "/GetData/?pageSize=01&type=1&code=btcusdt",
    "/GetData/?pageSize=+1&type=1&code=btcusdt",
    "/GetData/?pageSize=1.0&type=1&code=btcusdt",
    "/GetData/?pageSize=0&type=1&code=btcusdt",
    "/GetData/?pageSize=10000001&type=1&code=btcusdt",
    "/GetData/?pageSize=x&type=1&code=btcusdt",
    "/GetData/?pageSize=1&type=2&code=btcusdt",
    "/GetData/?pageSize=1&type=1&code=",
    f"/GetData/?pageSize=1&type=1&code={'b' * 65}",
    "/GetData/?pageSize=1&type=1&code=btcusdx",
    "/GetData/?pageSize=1&type=1&code=btc%5Fusdt",
    "/GetData/?pageSize=1&type=1",
    "/GetData/",
]


@pytest.fixture
async def servers(redis_url: str) -> AsyncIterator[tuple[ThreadedApi, ThreadedApi]]:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        await seed(writer)
    config = api_config(redis_url, legacy_instance=f.INSTANCE)
    clock = FixedClock(f.T0 + 250)
    with (
        ThreadedApi(config, ApiTuning(clock=clock, retry_after=4)) as hot,
        ThreadedApi(config, ApiTuning(clock=clock, retry_after=4, hot_routes=False)) as plain,
    ):
        yield hot, plain


def _answer(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers, with the server's own address (redirects) and the date taken out."""
    server = f"{response.url.scheme}://{response.url.netloc.decode()}"
    headers = {k: v.replace(server, "") for k, v in response.headers.items() if k != "date"}
    return response.status_code, response.content, headers


def _request_counts(metrics: str) -> list[str]:
    return sorted(re.findall(r"^quotewire_api_requests_total\{.*$", metrics, re.MULTILINE))


async def test_hot_routes_answer_exactly_as_fastapi(
    servers: tuple[ThreadedApi, ThreadedApi], redis_server: RedisServer
) -> None:
    hot, plain = servers
    async with httpx.AsyncClient(base_url=hot.url) as a, httpx.AsyncClient(base_url=plain.url) as b:
        for method in ("GET", "HEAD", "POST"):
            for path in REQUESTS:
                got, want = await a.request(method, path), await b.request(method, path)
                assert _answer(got) == _answer(want), (method, path)
                if (
                    got.status_code == 200 and got.content
                ):  # as orjson encoded the whole answer before splicing
                    assert got.content == orjson.dumps(orjson.loads(got.content)), path
        redis_server.stop()
        try:
            for path in [*REQUESTS[:2], "/GetData/?pageSize=1&type=1&code=btcusdt"]:
                got, want = await a.get(path), await b.get(path)
                assert got.status_code == 503 and got.headers["retry-after"] == "4"
                assert _answer(got) == _answer(want), path
        finally:
            redis_server.start()
        counts = _request_counts((await a.get("/metrics")).text)
        assert counts == _request_counts((await b.get("/metrics")).text)
    quote = 'method="GET",route="/v1/exchanges/{instance}/symbols/{symbol}/quote",status="200"'
    assert any(quote in line for line in counts)


@pytest.mark.parametrize(
    ("method", "path", "query", "hot"),
    [
        ("GET", f"{LATEST}/btcusdt/quote", b"", True),
        ("GET", f"{LATEST}/BTC-USDX/ticker", b"", True),  # an unknown symbol is answered (404) too
        ("GET", "/GetData/", b"pageSize=1&type=1&code=btcusdt", True),
        ("GET", "/GetData", b"pageSize=1&type=1&code=btcusdt", True),
        ("HEAD", f"{LATEST}/btcusdt/quote", b"", False),
        ("GET", f"{LATEST}/btcusdt/depth", b"", False),
        ("GET", f"{LATEST}/btcusdt/quote/", b"", False),
        ("GET", f"{LATEST}/{'b' * 65}/quote", b"", False),
        ("GET", "/v1/exchanges//symbols/btcusdt/quote", b"", False),
        ("GET", "/GetData/", b"pageSize=1&type=2&code=btcusdt", False),
        ("GET", "/GetData/", b"pageSize=1&type=1", False),
    ],
)
async def test_hot_routes_take_plain_requests_and_pass_the_rest_on(
    redis_url: str, method: str, path: str, query: bytes, hot: bool
) -> None:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        await seed(writer)
    passed: list[str] = []
    sent: list[Message] = []

    async def fastapi(scope: Scope, receive: Receive, send: Send) -> None:
        passed.append(scope["path"])

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    config = api_config(redis_url, legacy_instance=f.INSTANCE)
    async with StoreReader(redis_url) as reader:
        tuning = ApiTuning()
        metrics = ApiMetrics()
        state = ApiState(
            config.api, tuning, reader, Catalog(reader, tuning.clock, 5.0), metrics, Hub(reader, metrics)
        )
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": query,
            "state": {"api": state},
        }
        await HotRoutes(fastapi, retry_after=2)(scope, receive, send)
    assert passed == ([] if hot else [path])
    assert bool(sent) == hot


def test_legacy_query_takes_only_plainly_valid_values() -> None:
    assert legacy_query(b"pageSize=3&type=60&code=btcusdt") == (3, Interval.H1, "btcusdt")
    assert legacy_query(b"pageSize=1&pageSize=2&type=1&code=a%20b") == (2, Interval.M1, "a b")
    for query in (b"pageSize=01&type=1&code=x", b"pageSize=1&type=7&code=x", b"pageSize=1&type=1&code="):
        assert legacy_query(query) is None


async def test_locate_remembers_a_spelling_no_longer_than_its_sources(redis_url: str) -> None:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        await seed(writer)
    clock = ManualClock()
    async with StoreReader(redis_url) as reader:
        catalog = Catalog(reader, clock, ttl=5.0)
        await catalog.instances()  # the registry is read at t=0
        clock.t = 4.0
        assert await catalog.locate(f.INSTANCE, "btcusdt") == "BTC/USDT"
        await reader.client.delete(reader.keys.instances(), reader.keys.markets(f.INSTANCE))
        clock.t = 4.9
        assert await catalog.locate(f.INSTANCE, "btcusdt") == "BTC/USDT"
        clock.t = 5.0  # the registry entry it relied on has expired, though the resolver has not
        with pytest.raises(UnknownInstanceError):
            await catalog.locate(f.INSTANCE, "btcusdt")
        async with StoreWriter(redis_url, flush_interval=3600) as writer:
            await seed(writer)
        clock.t = 6.1  # past the 1 s a miss may reuse the registry
        assert await catalog.locate(f.INSTANCE, "ETH-BTC") == "ETH/BTC"
        assert await catalog.locate(f.INSTANCE, "btcusdt") == "BTC/USDT"
        with pytest.raises(UnknownSymbolError):
            await catalog.locate(f.INSTANCE, "btcusdx")
