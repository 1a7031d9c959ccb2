"""Operations routes, API keys, CORS, and a schemathesis run against the app's own OpenAPI schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import websockets
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.settings import ApiTuning
from core.config import ApiConfig, AppConfig, RedisConfig
from core.store import StoreWriter
from tests import factories as f
from tests.api_helpers import api_config
from tests.support.api_data import FixedClock, seed
from tests.support.api_server import ThreadedApi
from tests.support.redis_server import RedisServer

KEY = "k-3f9a0c1e"


@pytest.fixture
async def seeded(redis_url: str) -> None:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        await seed(writer)
        writer.incr("test-venue", "huge", 2**64)  # cannot be sent: the store counts it refused
        await writer.flush()
        writer.incr("test-venue", "records")
        await writer.flush()  # the writer's counters go out with the next flush


async def test_health_ready_metrics(redis_url: str, seeded: None, redis_server: RedisServer) -> None:
    clock = FixedClock(f.T0 + 100)
    with ThreadedApi(api_config(redis_url), ApiTuning(clock=clock, retry_after=3)) as api:
        async with httpx.AsyncClient(base_url=api.url) as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            ready = (await http.get("/ready")).json()
            assert ready["status"] == "ready" and ready["instances"]["test-venue"] >= 0
            clock.now = f.T0 + 60_000
            stale = await http.get("/ready")
            assert stale.status_code == 503 and stale.json()["error"]["code"] == "stale"
            await http.get("/v1/exchanges/test-venue/symbols/BTC-USDT/quote")
            text = (await http.get("/metrics")).text
            route = 'method="GET",route="/v1/exchanges/{instance}/symbols/{symbol}/quote",status="200"'
            assert f"quotewire_api_requests_total{{{route}}} 1.0" in text
            assert "quotewire_api_request_seconds_bucket" in text and "quotewire_api_push_clients" in text
            assert 'quotewire_collector_total{counter="resyncs",instance="test-venue"} 2.0' in text
            assert 'quotewire_store_total{counter="refused"} 1.0' in text
            redis_server.stop()
            try:
                down = await http.get("/ready")
                assert down.status_code == 503 and down.headers["retry-after"] == "3"
                scraped = await http.get("/metrics")  # the API's own metrics, without the collectors'
                assert scraped.status_code == 200 and "quotewire_api_requests_total" in scraped.text
                assert "quotewire_collector_total{" not in scraped.text
                assert "quotewire_store_total{" not in scraped.text
            finally:
                redis_server.start()


@pytest.fixture
def secured(redis_url: str, seeded: None) -> Iterator[ThreadedApi]:
    with ThreadedApi(api_config(redis_url, api_keys=("other-key", KEY), legacy_instance=f.INSTANCE)) as api:
        yield api


@pytest.mark.parametrize(
    "path", ["/v1/exchanges", "/GetData/?pageSize=1&type=1&code=btcusdt", "/metrics", "/docs"]
)
async def test_api_keys_guard_everything_but_health(secured: ThreadedApi, path: str) -> None:
    async with httpx.AsyncClient(base_url=secured.url) as http:
        assert (await http.get("/health")).status_code == 200
        missing = await http.get(path)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
        assert (await http.get(path, headers={"X-API-Key": KEY + "x"})).status_code == 401
        assert (await http.get(path, headers={"X-API-Key": KEY})).status_code == 200


async def test_api_keys_guard_the_websocket(secured: ThreadedApi) -> None:
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(secured.ws_url):
            pass
    async with websockets.connect(secured.ws_url, additional_headers={"X-API-Key": KEY}) as ws:
        await ws.send('{"op": "ping"}')
        assert '"pong"' in str(await ws.recv())


async def test_cors_origins(redis_url: str) -> None:
    config = AppConfig(redis=RedisConfig(url=redis_url), api=ApiConfig(cors_origins=["https://app.example"]))
    with ThreadedApi(config) as api:
        async with httpx.AsyncClient(base_url=api.url) as http:
            response = await http.get("/health", headers={"Origin": "https://app.example"})
    assert response.headers["access-control-allow-origin"] == "https://app.example"


@pytest.fixture
def schema_server(redis_url: str, seeded: None) -> Iterator[ThreadedApi]:
    tuning = ApiTuning(clock=FixedClock(f.T0 + 100))  # fresh data: /ready answers 200
    with ThreadedApi(api_config(redis_url, legacy_instance=f.INSTANCE), tuning) as api:
        yield api


async def test_openapi_documents_examples_and_the_error_shape(schema_server: ThreadedApi) -> None:
    async with httpx.AsyncClient(base_url=schema_server.url) as http:
        spec = (await http.get("/openapi.json")).json()
    quote = spec["paths"]["/v1/exchanges/{instance}/symbols/{symbol}/quote"]["get"]
    assert quote["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert "422" in quote["responses"] and "/GetData/" in spec["paths"] and "/GetData" not in spec["paths"]


def test_schemathesis_finds_no_server_error_or_schema_break(schema_server: ThreadedApi) -> None:
    schema = schemathesis.openapi.from_url(f"{schema_server.url}/openapi.json")
    failures: list[str] = []
    checks = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        content_type_conformance,
    ]
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema fails loudly here

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(base_url=schema_server.url, checks=checks)

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert failures == []
