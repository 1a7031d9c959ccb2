"""One JSON error shape for every failure, and the handlers that produce it.

``{"error": {"code": "unknown_symbol", "message": "...", "suggestions": ["BTC/USDT"]}}``
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.responses import JSONBytesResponse
from core.errors import NotFoundError, QuotewireError, StorageError, UnknownSymbolError

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """What went wrong, in words and as a stable machine code."""

    code: str = Field(examples=["unknown_symbol"])
    message: str = Field(examples=["unknown symbol 'BTC-USDX'"])
    suggestions: list[str] = Field(default_factory=list, examples=[["BTC/USDT"]])
    details: list[dict[str, Any]] = Field(default_factory=list, description="per-parameter problems")


class ErrorBody(BaseModel):
    """The body of every non-2xx answer."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "missing or wrong API key"),
        (404, "unknown instance or symbol, or no data stored yet"),
        (422, "invalid parameter"),
        (503, "Redis unreachable; retry after the Retry-After delay"),
    )
}
"""The error answers every route documents (with the one shape)."""


class UnknownInstanceError(NotFoundError):
    """The instance is not registered in the store."""

    def __init__(self, message: str, *, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.suggestions = suggestions


class BadParameterError(QuotewireError):
    """A request parameter is syntactically fine but not acceptable."""


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    suggestions: tuple[str, ...] | list[str] = (),
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONBytesResponse:
    """A response in the one error shape."""
    body: dict[str, Any] = {"code": code, "message": message, "suggestions": list(suggestions)}
    if details:
        body["details"] = details
    return JSONBytesResponse({"error": body}, status_code=status, headers=dict(headers or {}))


def response_for(exc: QuotewireError, retry_after: int) -> JSONBytesResponse:
    """Map a quotewire error to its HTTP answer."""
    if isinstance(exc, UnknownSymbolError):
        return error_response(404, "unknown_symbol", str(exc), suggestions=exc.suggestions)
    if isinstance(exc, UnknownInstanceError):
        return error_response(404, "unknown_instance", str(exc), suggestions=exc.suggestions)
    if isinstance(exc, NotFoundError):
        return error_response(404, "not_found", str(exc))
    if isinstance(exc, BadParameterError):
        return error_response(422, "invalid_parameter", str(exc))
    if isinstance(exc, StorageError):
        log.warning("store unavailable: %s", exc)
        return error_response(
            503,
            "store_unavailable",
            "the market-data store is unreachable; retry later",
            headers={"Retry-After": str(retry_after)},
        )
    log.error("unexpected %s: %s", type(exc).__name__, exc)
    return error_response(500, "internal_error", "internal error")


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        details.append({"loc": loc, "message": str(error.get("msg", "")), "type": str(error.get("type"))})
    return details


def install_error_handlers(app: FastAPI, retry_after: int) -> None:
    """Route FastAPI's, Starlette's and quotewire's exceptions to the one shape."""

    async def on_quotewire(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, QuotewireError)
        return response_for(exc, retry_after)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = _validation_details(exc)
        first = details[0] if details else {"loc": [], "message": "invalid request"}
        where = ".".join(first["loc"][1:] or first["loc"]) or "request"
        return error_response(422, "invalid_parameter", f"{where}: {first['message']}", details=details)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        code = codes.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    app.add_exception_handler(QuotewireError, on_quotewire)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
