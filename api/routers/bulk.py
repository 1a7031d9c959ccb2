"""``/v1/exchanges/{instance}/{tickers|quotes|prices}?symbols=…``: many symbols in one call."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from api.errors import ERROR_RESPONSES, BadParameterError
from api.limits import MAX_NAME
from api.responses import JSONBytesResponse
from api.schemas import BulkPrices, BulkQuotes, BulkTickers
from api.state import Api, ApiState
from core.models import Channel

router = APIRouter(prefix="/v1/exchanges/{instance}", tags=["bulk"], responses=ERROR_RESPONSES)

MAX_SYMBOLS = 200
Instance = Annotated[str, Path(max_length=MAX_NAME, examples=["binance"])]
Symbols = Annotated[
    str,
    Query(
        min_length=1,
        max_length=4000,
        description=f"comma-separated symbols in any accepted spelling (at most {MAX_SYMBOLS})",
        examples=["BTC-USDT,ethusdt"],
    ),
]


async def _bulk(api: ApiState, instance: str, symbols: str, channel: Channel) -> Response:
    name = await api.catalog.instance(instance)
    texts = [s.strip() for s in symbols.split(",") if s.strip()]
    if not texts:
        raise BadParameterError("symbols: give at least one symbol")
    if len(texts) > MAX_SYMBOLS:
        raise BadParameterError(f"symbols: at most {MAX_SYMBOLS} per call (got {len(texts)})")
    unified: list[str] = []
    for text in texts:
        symbol = await api.catalog.symbol(name, text)
        if symbol not in unified:
            unified.append(symbol)
    values = await api.reader.latest_many(name, unified, channel)
    data = [api.wrap(orjson.loads(v)) for v in values if v is not None]
    missing = [s for s, v in zip(unified, values, strict=True) if v is None]
    return JSONBytesResponse({"source": name, "data": data, "missing": missing})


@router.get("/tickers", response_model=BulkTickers, summary="Tickers of many symbols")
async def tickers(instance: Instance, symbols: Symbols, api: Api) -> Response:
    return await _bulk(api, instance, symbols, Channel.TICKER)


@router.get("/quotes", response_model=BulkQuotes, summary="Quotes of many symbols")
async def quotes(instance: Instance, symbols: Symbols, api: Api) -> Response:
    return await _bulk(api, instance, symbols, Channel.QUOTE)


@router.get("/prices", response_model=BulkPrices, summary="Prices of many symbols")
async def prices(instance: Instance, symbols: Symbols, api: Api) -> Response:
    return await _bulk(api, instance, symbols, Channel.PRICE)
