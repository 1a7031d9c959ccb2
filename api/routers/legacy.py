"""``GET /GetData/?pageSize={page}&type={minutes}&code={pair}``: the old K-line endpoint, kept as it was.

``pageSize`` is the page *number* (1-based), ten candles a page, newest first; ``type`` is the interval
in minutes; ``code`` is a pair such as ``btcusdt``. It reads ``api.legacy_instance`` (or the only instance).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from api.errors import ERROR_RESPONSES, BadParameterError
from api.limits import MAX_LEGACY_PAGE, MAX_NAME
from api.responses import JSONBytesResponse
from api.schemas import LegacyCandle
from api.state import Api, ApiState
from core.errors import NotFoundError
from core.intervals import LEGACY_MINUTE_CODES, Interval

router = APIRouter(tags=["legacy"], responses=ERROR_RESPONSES)

PAGE_SIZE = 10


async def _legacy_instance(api: ApiState) -> str:
    known = await api.catalog.instances()
    if len(known) == 1:
        return next(iter(known))
    raise NotFoundError(
        f"no legacy instance: set api.legacy_instance in plugins.yaml ({len(known)} instances are registered)"
    )


@functools.lru_cache(maxsize=4096)
def _candle_json(row: bytes) -> bytes:
    """The legacy JSON of one stored candle; pollers re-read the same rows, so answers are memoised."""
    return orjson.dumps(_candle(orjson.loads(row)))


def _candle(kline: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": kline["open_time"] // 1000,
        "open": kline["open"],
        "close": kline["close"],
        "low": kline["low"],
        "high": kline["high"],
        "amount": kline["volume"],
        "vol": kline.get("quote_volume"),
        "count": kline.get("trades"),
    }


@router.get(
    "/GetData/", response_model=list[LegacyCandle], summary="Legacy K-lines, ten a page, newest first"
)
@router.get("/GetData", response_model=list[LegacyCandle], include_in_schema=False)
async def get_data(
    api: Api,
    page: Annotated[
        int, Query(alias="pageSize", ge=1, le=MAX_LEGACY_PAGE, description="page number, 1-based")
    ],
    minutes: Annotated[
        int,
        Query(
            alias="type",
            description="interval in minutes",
            json_schema_extra={"enum": list(LEGACY_MINUTE_CODES)},
        ),
    ],
    code: Annotated[str, Query(min_length=1, max_length=MAX_NAME, description="pair, e.g. btcusdt")],
) -> Response:
    """Ten candles of page ``pageSize``; a page past the end is an empty list."""
    try:
        interval = Interval.from_minutes(minutes)
    except ValueError as exc:
        raise BadParameterError(f"type: {exc}") from None
    return JSONBytesResponse(await legacy_json(api, page, interval, code))


async def legacy_json(api: ApiState, page: int, interval: Interval, code: str) -> bytes:
    """The body of a ``/GetData/`` answer: page ``page`` of ``code``'s candles as legacy JSON."""
    if api.config.legacy_instance is not None:
        instance = api.config.legacy_instance
        symbol = await api.catalog.locate(instance, code)
    else:
        instance = await _legacy_instance(api)
        symbol = await api.catalog.symbol(instance, code)
    rows = await api.reader.klines_page(instance, symbol, interval, page=page, page_size=PAGE_SIZE)
    return b"[" + b",".join([_candle_json(r) for r in rows]) + b"]"
