"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware): metrics with a last-resort guard, and API keys."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Sequence
from urllib.parse import parse_qs

from prometheus_client import Counter, Histogram
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.metrics import ApiMetrics

log = logging.getLogger(__name__)

ROUTE_TEMPLATE = "quotewire.route_template"
"""Scope key naming the route template of a request answered outside the router (see api.hot)."""


class MetricsMiddleware:
    """Counts and times HTTP requests per route template; turns any escaped exception into a 500."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _record(self, template: str, method: str, status: int, seconds: float) -> None:
        key = (template, method, status)
        series = self._series.get(key)
        if series is None:  # labels() costs a lock and a tuple build; resolve each series once
            series = (
                self.metrics.requests.labels(template, method, str(status)),
                self.metrics.latency.labels(template),
            )
            self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not response_started:
                status = 500
                await error_response(500, "internal_error", "internal error")(scope, receive, send)
        finally:
            template = scope.get(ROUTE_TEMPLATE) or getattr(scope.get("route"), "path", None)
            self._record(
                template or "unmatched", scope.get("method", ""), status, time.perf_counter() - started
            )


class ApiKeyMiddleware:
    """Requires a valid ``X-API-Key`` on every HTTP request and websocket except the open paths.

    Websocket clients that cannot set headers (browsers) may pass ``?api_key=``. Keys are compared
    in constant time against every configured key and never logged.
    """

    def __init__(self, app: ASGIApp, keys: Sequence[SecretStr], open_paths: frozenset[str]) -> None:
        self.app = app
        self._keys = [k.get_secret_value().encode() for k in keys]
        self._open = open_paths

    def _valid(self, presented: bytes) -> bool:
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(presented, key)
        return ok

    def _presented(self, scope: Scope) -> bytes:
        for name, value in scope.get("headers", ()):
            if name == b"x-api-key":
                return bytes(value)
        if scope["type"] == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            token: str = query.get("api_key", [""])[0]
            return token.encode()
        return b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self._open:
            await self.app(scope, receive, send)
            return
        if self._valid(self._presented(scope)):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; closing before accept answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008, "reason": "missing or invalid API key"})
            return
        response = error_response(
            401, "unauthorized", "missing or invalid X-API-Key header", headers={"WWW-Authenticate": "ApiKey"}
        )
        await response(scope, receive, send)
