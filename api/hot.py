"""The hottest GET routes, served without FastAPI's routing, dependency solving and response objects.

:class:`HotRoutes` is the innermost user middleware (inside CORS, metrics and API keys). It answers
``GET /v1/exchanges/{instance}/symbols/{symbol}/quote|ticker|price`` and ``GET /GetData/`` itself when
every parameter is plainly valid, and passes everything else (another method, a parameter FastAPI might
reject or coerce, a trailing slash) on to the FastAPI routes. Those stay the documented definition
(OpenAPI) and produce every validation error. Both roads build the body with the same functions
(:func:`latest_json`, :func:`legacy_json`) and map errors with :func:`api.errors.response_for`, so an
answer does not depend on the road it took.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import response_for
from api.limits import MAX_LEGACY_PAGE, MAX_NAME
from api.middleware import ROUTE_TEMPLATE
from api.routers.legacy import legacy_json
from api.routers.symbols import latest_json
from api.state import ApiState
from core.errors import QuotewireError
from core.intervals import Interval
from core.models import Channel

LATEST = {"quote": Channel.QUOTE, "ticker": Channel.TICKER, "price": Channel.PRICE}
LATEST_PREFIX = "/v1/exchanges/"
LATEST_TEMPLATE = "/v1/exchanges/{instance}/symbols/{symbol}/"
LEGACY_PATHS = ("/GetData/", "/GetData")
_PLAIN_INT = re.compile(r"[1-9][0-9]{0,7}")  # what pydantic reads as the same int, and nothing else
_JSON = b"application/json"


@functools.lru_cache(maxsize=1024)
def legacy_query(query_string: bytes) -> tuple[int, Interval, str] | None:
    """``(page, interval, code)`` of a ``/GetData/`` query, or None unless every value is plainly valid.

    Parsed as Starlette parses it (latin-1, blank values kept, the last repeat wins); pollers repeat
    the same few queries, so results are memoised.
    """
    params = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    page, minutes, code = params.get("pageSize"), params.get("type"), params.get("code")
    if page is None or minutes is None or code is None or not 0 < len(code) <= MAX_NAME:
        return None
    if not _PLAIN_INT.fullmatch(page) or not _PLAIN_INT.fullmatch(minutes) or int(page) > MAX_LEGACY_PAGE:
        return None
    try:
        interval = Interval.from_minutes(int(minutes))
    except ValueError:
        return None
    return int(page), interval, code


class HotRoutes:
    """Pure ASGI middleware answering the hot routes directly (see the module docstring)."""

    def __init__(self, app: ASGIApp, retry_after: int) -> None:
        self.app = app
        self._retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            state = scope.get("state")
            api: ApiState | None = state.get("api") if state else None
            if api is not None:
                path: str = scope["path"]
                if path.startswith(LATEST_PREFIX):
                    parts = path.split("/")  # ['', 'v1', 'exchanges', instance, 'symbols', symbol, leaf]
                    if (
                        len(parts) == 7
                        and parts[4] == "symbols"
                        and (channel := LATEST.get(parts[6])) is not None
                        and 0 < len(parts[3]) <= MAX_NAME
                        and 0 < len(parts[5]) <= MAX_NAME
                    ):
                        body = latest_json(api, parts[3], parts[5], channel)
                        await self._answer(scope, receive, send, LATEST_TEMPLATE + parts[6], body)
                        return
                elif path in LEGACY_PATHS and (query := legacy_query(scope["query_string"])) is not None:
                    await self._answer(scope, receive, send, path, legacy_json(api, *query))
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, template: str, body: Awaitable[bytes]
    ) -> None:
        """Send ``body`` as a 200 JSON answer (the headers JSONResponse sends), or the error it raised."""
        scope[ROUTE_TEMPLATE] = template
        try:
            content = await body
        except QuotewireError as exc:
            await response_for(exc, self._retry_after)(scope, receive, send)
            return
        headers = [(b"content-length", str(len(content)).encode()), (b"content-type", _JSON)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})
