"""The application factory: ``create_app(config)`` builds one FastAPI app with its own state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from api.catalog import Catalog
from api.errors import install_error_handlers
from api.hot import HotRoutes
from api.metrics import ApiMetrics
from api.middleware import ApiKeyMiddleware, MetricsMiddleware
from api.push.hub import Hub
from api.responses import JSONBytesResponse
from api.routers import arbitrage, bulk, cross, exchanges, legacy, ops, stream, symbols
from api.settings import ApiTuning
from api.state import ApiState
from core.config import AppConfig
from core.store import StoreReader

OPEN_PATHS = frozenset({"/health"})
DESCRIPTION = """\
Real-time crypto market data served from quotewire's Redis store. Every answer names its source
instance and carries `event_time` (exchange), `receive_time` (ours), `age_ms` and `stale`.
Errors always have the shape `{"error": {"code", "message", "suggestions"}}`.
Live updates: websocket `/v1/stream` (see docs/api.md).
"""


def create_app(config: AppConfig, tuning: ApiTuning | None = None) -> FastAPI:
    """Build the API for ``config``; nothing connects until the lifespan starts."""
    tuning = tuning or ApiTuning()
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with StoreReader(config.redis_url) as reader:
            hub = Hub(reader, metrics)
            state = ApiState(
                config=config.api,
                tuning=tuning,
                reader=reader,
                catalog=Catalog(reader, tuning.clock, tuning.catalog_ttl),
                metrics=metrics,
                hub=hub,
            )
            async with asyncio.TaskGroup() as tasks:
                hub_task = tasks.create_task(hub.run(), name="push-hub")
                try:
                    yield {"api": state}
                finally:
                    hub_task.cancel()

    app = FastAPI(
        title="quotewire",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        default_response_class=JSONBytesResponse,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app, tuning.retry_after)
    for module in (exchanges, symbols, bulk, cross, arbitrage, legacy, stream, ops):
        app.include_router(module.router)
    if tuning.hot_routes:
        app.add_middleware(HotRoutes, retry_after=tuning.retry_after)
    if config.api.api_keys:
        app.add_middleware(ApiKeyMiddleware, keys=config.api.api_keys, open_paths=OPEN_PATHS)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if config.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.api.cors_origins,
            allow_methods=["GET"],
            allow_headers=["X-API-Key"],
        )
    return app
