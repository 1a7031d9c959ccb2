"""``/v1/exchanges``: the instances, their markets and freshness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api.errors import ERROR_RESPONSES
from api.responses import JSONBytesResponse
from api.schemas import ExchangeList, MarketList
from api.state import Api

router = APIRouter(prefix="/v1/exchanges", tags=["exchanges"], responses=ERROR_RESPONSES)


@router.get("", response_model=ExchangeList, summary="Instances with metadata and a freshness summary")
async def list_exchanges(api: Api) -> Response:
    """Every registered instance; ``stale`` is true when its newest data is older than ``stale_after``;
    ``counters`` are its collector's (reconnects, resyncs, REST weight, malformed frames, ...)."""
    items = []
    for name, meta in sorted((await api.catalog.instances(max_age=0)).items()):
        fresh = await api.reader.freshness(name)
        newest = max(fresh.values(), default=None)
        stale_streams = sum(1 for t in fresh.values() if api.age(t)[1])
        age, stale = api.age(newest)
        items.append(
            {
                "name": name,
                "meta": meta,
                "markets": await api.reader.market_count(name),
                "streams": len(fresh),
                "stale_streams": stale_streams,
                "receive_time": newest,
                "age_ms": age,
                "stale": stale,
                "counters": await api.reader.stats(name),
            }
        )
    return JSONBytesResponse({"data": items})


@router.get("/{instance}/markets", response_model=MarketList, summary="Market metadata of an instance")
async def list_markets(instance: str, api: Api) -> Response:
    """Tick and lot sizes, precisions and minimums of every market, sorted by symbol."""
    name = await api.catalog.instance(instance)
    markets = await api.reader.markets(name)
    return JSONBytesResponse({"source": name, "data": [m.model_dump(mode="json") for m in markets]})
