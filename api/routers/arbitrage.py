"""``/v1/arbitrage/{instance}``: the instance's current arbitrage opportunities, best first.

Opportunities are what the collector's arbitrage observer stored (see docs/redis-schema.md). Each is
served with the age of its oldest quote *now*; ``stale`` is set when the observer flagged it or that
age exceeds the API's ``stale_after``. Live changes: subscribe to the ``arbitrage`` channel of
``/v1/stream``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from api.errors import ERROR_RESPONSES
from api.limits import MAX_NAME
from api.responses import JSONBytesResponse
from api.state import Api, ApiState
from core.arbitrage.models import Opportunity

router = APIRouter(prefix="/v1/arbitrage", tags=["arbitrage"], responses=ERROR_RESPONSES)


class ServedOpportunity(Opportunity):
    """An opportunity as served: its figures at detection and the age of its quotes now."""

    quote_age_ms: int = Field(description="age of the oldest quote used, now (ms)")


class OpportunityList(BaseModel):
    """Opportunities ranked by net return (after fees), best first."""

    source: str = Field(description="the instance", examples=["binance"])
    count: int
    data: list[ServedOpportunity]


@router.get("/{instance}", response_model=OpportunityList, summary="Ranked arbitrage opportunities")
async def opportunities(
    instance: Annotated[str, Path(max_length=MAX_NAME, examples=["binance"])],
    api: Api,
    limit: Annotated[int, Query(ge=1, le=1000, description="most opportunities returned")] = 100,
    min_return: Annotated[
        Decimal | None,
        Query(ge=-1, le=1000, description="only net returns at or above this ratio (0.001 = 0.1 %)"),
    ] = None,
) -> Response:
    """Profitable cycles of one instance with their legs, returns, executable size and freshness."""
    name = await api.catalog.instance(instance)
    floor = None if min_return is None else float(min_return)
    documents = await api.reader.opportunities(name, limit=limit, min_return=floor)
    found = [served(api, orjson.loads(d)) for d in documents]
    if min_return is not None:  # the ranking's float scores are coarse; the decimals decide
        found = [o for o in found if Decimal(o["net_return"]) >= min_return]
    return JSONBytesResponse({"source": name, "count": len(found), "data": found})


def served(api: ApiState, opportunity: dict[str, Any]) -> dict[str, Any]:
    """A stored opportunity with its quote age now and the stale flag applied."""
    quoted_at = int(opportunity["detected_at"]) - int(opportunity["oldest_quote_age_ms"])
    age = max(0, api.now_ms() - quoted_at)
    opportunity["quote_age_ms"] = age
    opportunity["stale"] = bool(opportunity["stale"]) or age > api.stale_after_ms
    return opportunity
