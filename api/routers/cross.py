"""``/v1/symbols/{symbol}/quote``: one symbol across every instance that carries it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path
from starlette.responses import Response

from api.errors import ERROR_RESPONSES
from api.limits import MAX_NAME
from api.responses import JSONBytesResponse
from api.schemas import CrossQuote
from api.state import Api, ApiState
from core.models import Channel

router = APIRouter(prefix="/v1/symbols", tags=["cross-exchange"], responses=ERROR_RESPONSES)


@router.get("/{symbol}/quote", response_model=CrossQuote, summary="Best bid and ask over all instances")
async def cross_quote(
    symbol: Annotated[str, Path(max_length=MAX_NAME, examples=["BTC-USDT"])], api: Api
) -> Response:
    """The highest bid and lowest ask, and which instance has each; fresh quotes win over stale ones."""
    carriers = await api.catalog.carriers(symbol)
    pairs = sorted(carriers.items())
    values = await api.reader.latest_of(pairs, Channel.QUOTE)
    quotes = [api.wrap(orjson.loads(v)) for v in values if v is not None]
    unified = pairs[0][1]
    body = {
        "symbol": unified,
        "best_bid": _best(api, quotes, "bid", highest=True),
        "best_ask": _best(api, quotes, "ask", highest=False),
        "quotes": quotes,
    }
    return JSONBytesResponse(body)


def _best(api: ApiState, quotes: list[dict[str, Any]], side: str, *, highest: bool) -> dict[str, Any] | None:
    pool = [q for q in quotes if not q["stale"]] or quotes
    if not pool:
        return None
    sign = 1 if highest else -1
    best = max(pool, key=lambda q: sign * Decimal(q["data"][side]))
    data = best["data"]
    return {
        "instance": best["source"],
        "price": data[side],
        "size": data[f"{side}_size"],
        "event_time": best["event_time"],
        "receive_time": best["receive_time"],
        "age_ms": best["age_ms"],
        "stale": best["stale"],
    }
