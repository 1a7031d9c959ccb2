"""``/v1/exchanges/{instance}/symbols/{symbol}/…``: one symbol's ticker, quote, price, depth, trades, klines.

Symbols may be spelt ``BTC-USDT``, ``btcusdt``, ``BTCUSDT`` or ``btc_usdt``; they are resolved
against the instance's markets. Stored records are served as stored (decimals as exact strings).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from api.errors import ERROR_RESPONSES
from api.limits import MAX_NAME
from api.responses import JSONBytesResponse
from api.schemas import DepthEnvelope, KlinesPage, PriceEnvelope, QuoteEnvelope, TickerEnvelope, TradesPage
from api.state import Api, ApiState
from core.errors import NotFoundError
from core.intervals import Interval
from core.models import Channel

router = APIRouter(
    prefix="/v1/exchanges/{instance}/symbols/{symbol}", tags=["symbols"], responses=ERROR_RESPONSES
)

Instance = Annotated[str, Path(max_length=MAX_NAME, description="instance name", examples=["binance"])]
Symbol = Annotated[
    str,
    Path(max_length=MAX_NAME, description="BTC-USDT, btcusdt, BTCUSDT or btc_usdt", examples=["BTC-USDT"]),
]


async def _stored(api: ApiState, instance: str, symbol: str, channel: Channel) -> bytes:
    unified = await api.catalog.locate(instance, symbol)
    raw = await api.reader.latest(instance, unified, channel)
    if raw is None:
        raise NotFoundError(f"no {channel.value} stored for {unified} on {instance} yet")
    return raw


async def _latest(api: ApiState, instance: str, symbol: str, channel: Channel) -> dict[str, Any]:
    return api.wrap(orjson.loads(await _stored(api, instance, symbol, channel)))


async def latest_json(api: ApiState, instance: str, symbol: str, channel: Channel) -> bytes:
    """The body of a ticker/quote/price answer: the freshness envelope with the stored JSON spliced in
    as ``data`` (the same bytes as encoding :meth:`ApiState.wrap`, without re-encoding the record).
    """
    raw = await _stored(api, instance, symbol, channel)
    record = orjson.loads(raw)
    envelope = api.envelope(
        record["instance"], record["symbol"], record.get("event_time"), record["receive_time"]
    )
    return b"".join((orjson.dumps(envelope)[:-1], b',"data":', raw, b"}"))


@router.get("/ticker", response_model=TickerEnvelope, summary="24-hour ticker")
async def ticker(instance: Instance, symbol: Symbol, api: Api) -> Response:
    return JSONBytesResponse(await latest_json(api, instance, symbol, Channel.TICKER))


@router.get("/quote", response_model=QuoteEnvelope, summary="Best bid and ask")
async def quote(instance: Instance, symbol: Symbol, api: Api) -> Response:
    return JSONBytesResponse(await latest_json(api, instance, symbol, Channel.QUOTE))


@router.get("/price", response_model=PriceEnvelope, summary="Last traded price")
async def price(instance: Instance, symbol: Symbol, api: Api) -> Response:
    return JSONBytesResponse(await latest_json(api, instance, symbol, Channel.PRICE))


@router.get("/depth", response_model=DepthEnvelope, summary="Order book top levels")
async def depth(
    instance: Instance,
    symbol: Symbol,
    api: Api,
    levels: Annotated[
        int | None, Query(ge=1, le=5000, description="levels per side (default: all stored)")
    ] = None,
) -> Response:
    body = await _latest(api, instance, symbol, Channel.DEPTH)
    if levels is not None:
        book = body["data"]
        book["bids"], book["asks"] = book["bids"][:levels], book["asks"][:levels]
    return JSONBytesResponse(body)


@router.get("/trades", response_model=TradesPage, summary="Recent trades, newest first")
async def trades(
    instance: Instance,
    symbol: Symbol,
    api: Api,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None, Query(pattern=r"^\d{1,20}-\d{1,20}$", description="next_cursor of the previous page")
    ] = None,
) -> Response:
    name, unified = instance, await api.catalog.locate(instance, symbol)
    page = await api.reader.trades(name, unified, limit=limit, cursor=cursor)
    items = [orjson.loads(t) for t in page.items]
    received = await api.reader.received_at(name, unified, Channel.TRADES)
    body = api.envelope(name, unified, _newest_event(items), received)
    body["data"] = items
    body["next_cursor"] = page.next_cursor
    return JSONBytesResponse(body)


@router.get("/klines", response_model=KlinesPage, summary="Candles, newest first, paged by open time")
async def klines(  # noqa: PLR0917 -- FastAPI passes query parameters as arguments
    instance: Instance,
    symbol: Symbol,
    api: Api,
    interval: Interval,
    start: Annotated[int | None, Query(ge=0, description="earliest open time, Unix ms (inclusive)")] = None,
    end: Annotated[int | None, Query(ge=0, description="latest open time, Unix ms (inclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    cursor: Annotated[
        int | None, Query(ge=0, description="next_cursor of the previous page: candles opening before it")
    ] = None,
) -> Response:
    """Candles with ``start <= open_time <= end``; each page continues strictly before the last one."""
    name, unified = instance, await api.catalog.locate(instance, symbol)
    high = end
    if cursor is not None:
        high = cursor - 1 if high is None else min(high, cursor - 1)
    rows: list[bytes] = []
    if high is None or high >= (start or 0):
        rows = await api.reader.klines_range(
            name, unified, interval, start_ms=start, end_ms=high, limit=limit + 1, newest_first=True
        )
    items = [orjson.loads(r) for r in rows[:limit]]
    received = await api.reader.received_at(name, unified, Channel.KLINE, interval)
    body = api.envelope(name, unified, _newest_event(items), received)
    body["interval"] = interval.value
    body["data"] = items
    body["next_cursor"] = items[-1]["open_time"] if len(rows) > limit else None
    return JSONBytesResponse(body)


def _newest_event(items: list[dict[str, Any]]) -> int | None:
    return max((i["event_time"] for i in items if i.get("event_time") is not None), default=None)
