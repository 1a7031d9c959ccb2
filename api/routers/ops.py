"""Operations: ``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from api.errors import ERROR_RESPONSES, error_response
from api.responses import JSONBytesResponse
from api.schemas import Health, Readiness
from api.state import Api
from core.errors import StorageError

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, summary="The process is up")
async def health() -> Response:
    """Always 200 while the process serves requests; needs no API key."""
    return JSONBytesResponse({"status": "ok"})


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Redis reachable and data fresh",
    responses={503: ERROR_RESPONSES[503]},
)
async def ready(api: Api) -> Response:
    """200 when Redis answers and at least one instance has data younger than ``stale_after``."""
    try:
        await api.reader.ping()
        ages: dict[str, int | None] = {}
        for name in sorted(await api.catalog.instances(max_age=0)):
            newest = max((await api.reader.freshness(name)).values(), default=None)
            ages[name] = api.age(newest)[0]
    except StorageError:
        return error_response(
            503,
            "store_unavailable",
            "Redis is unreachable",
            headers={"Retry-After": str(api.tuning.retry_after)},
        )
    fresh = [n for n, age in ages.items() if age is not None and age <= api.stale_after_ms]
    if not fresh:
        return error_response(
            503,
            "stale",
            "no instance has fresh data" if ages else "no instance has registered yet",
            headers={"Retry-After": str(api.tuning.retry_after)},
        )
    return JSONBytesResponse({"status": "ready", "redis": True, "instances": ages})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(api: Api) -> Response:
    """Request counts and latency per route, push clients, conflated and dropped push messages,
    every instance's collector counters (``quotewire_collector_total``) and the store writers'
    (``quotewire_store_total``: records dropped, writes refused, failed flushes, ...). The last two
    are read from Redis, and left out while it is unreachable; the API's own metrics are served
    anyway."""
    try:
        instances = sorted(await api.catalog.instances(max_age=0))
        api.metrics.collector.counts = {name: await api.reader.stats(name) for name in instances}
        api.metrics.store.counts = await api.reader.store_stats()
    except StorageError:
        api.metrics.collector.counts = {}
        api.metrics.store.counts = {}
    return Response(generate_latest(api.metrics.registry), media_type=CONTENT_TYPE_LATEST)
