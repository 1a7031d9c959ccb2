"""The HTX spot REST market endpoints and the reference endpoints ccxt's ``htx`` loads markets from.

Every answer is an HTX envelope with HTTP 200 (``{"status": "ok", "ch", "ts", "tick" | "data"}``);
bad parameters answer ``{"status": "error", "err-code": "invalid-parameter", "err-msg": …}``. The
per-IP limit answers 429 with ``err-msg`` ``request limit``. Faults (latency, 5xx, malformed JSON
and error envelopes) are applied by :func:`fault_middleware`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from core.sim import MarketState
from core.sim.faults import every
from exchanges.huobi.sim import codec
from exchanges.huobi.sim.context import VenueContext

CONTEXT = web.AppKey("huobi_context", VenueContext)
DEPTH_TYPES = frozenset(f"step{i}" for i in range(6))
DEPTH_SIZES = frozenset({5, 10, 20})
FULL_DEPTH = 150
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(body: Any, status: int = 200) -> web.Response:
    """A JSON response with HTX's content type."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class ParamError(Exception):
    """A parameter HTX would refuse; the message is HTX's ``err-msg``."""


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count market requests; apply the rate limit, latency, HTTP errors and malformed bodies."""
    if request.path.startswith("/_sim") or request.path in ("/ws", "/feed"):
        return await handler(request)
    ctx = request.app[CONTEXT]
    faults = ctx.faults
    ctx.rest_requests += 1
    count = ctx.rest_requests
    now = ctx.clock.now_ms()
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
    ip = request.remote or "?"
    if not ctx.limiter.allow(ip, now, faults.request_limit, faults.limit_window_s * 1000):
        return reply(codec.error("invalid-parameter", "request limit", now), status=429)
    if every(count, faults.http_error_every):
        return web.Response(text="Service Unavailable", status=faults.http_error_status)
    if every(count, faults.error_envelope_every):
        return reply(codec.error("gateway-internal-error", "Failed to load data. Try again later.", now))
    try:
        response = await handler(request)
    except ParamError as exc:
        return reply(codec.error("invalid-parameter", str(exc), now))
    if every(count, faults.malformed_every) and isinstance(response, web.Response) and response.body:
        body = bytes(response.body)  # type: ignore[arg-type]
        return web.Response(body=body[: len(body) // 2], content_type="application/json")
    return response


def _market(ctx: VenueContext, request: web.Request) -> MarketState:
    market = ctx.market(request.query.get("symbol"))
    if market is None:
        raise ParamError("invalid symbol")
    return market


def _int(request: web.Request, name: str, *, default: int, low: int, high: int, message: str) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ParamError(message) from None
    if not low <= value <= high:
        raise ParamError(message)
    return value


# ---- market data ------------------------------------------------------------------------------
async def detail_merged(request: web.Request) -> web.Response:
    """``GET /market/detail/merged?symbol=``."""
    ctx = request.app[CONTEXT]
    market = _market(ctx, request)
    now = ctx.clock.now_ms()
    tick = codec.merged_tick(market, ctx.engine.stats(market, now))
    return reply(codec.ok(f"market.{codec.native(market.spec)}.detail.merged", now, tick=tick))


async def detail(request: web.Request) -> web.Response:
    """``GET /market/detail?symbol=``."""
    ctx = request.app[CONTEXT]
    market = _market(ctx, request)
    now = ctx.clock.now_ms()
    tick = codec.detail_tick(market, ctx.engine.stats(market, now))
    return reply(codec.ok(f"market.{codec.native(market.spec)}.detail", now, tick=tick))


async def tickers(request: web.Request) -> web.Response:
    """``GET /market/tickers``: every listed market."""
    ctx = request.app[CONTEXT]
    now = ctx.clock.now_ms()
    data = [codec.ticker_entry(m, ctx.engine.stats(m, now)) for m in ctx.engine.markets.values()]
    return reply(codec.ok(None, now, data=data))


async def depth(request: web.Request) -> web.Response:
    """``GET /market/depth?symbol=&type=step0&depth=5|10|20`` (150 levels without ``depth``)."""
    ctx = request.app[CONTEXT]
    market = _market(ctx, request)
    kind = request.query.get("type", "")
    if kind not in DEPTH_TYPES:
        raise ParamError("invalid type")
    size = _int(request, "depth", default=FULL_DEPTH, low=0, high=10**6, message="invalid depth")
    if size != FULL_DEPTH and size not in DEPTH_SIZES:
        raise ParamError("invalid depth")
    now = ctx.clock.now_ms()
    tick = codec.depth_tick(market.book.snapshot(market.update_id, size), now)
    return reply(codec.ok(f"market.{codec.native(market.spec)}.depth.{kind}", now, tick=tick))


def _period(request: web.Request) -> str:
    period = request.query.get("period", "")
    if period not in codec.PERIODS:
        raise ParamError("invalid period")
    return period


async def history_kline(request: web.Request) -> web.Response:
    """``GET /market/history/kline?symbol=&period=&size=`` (1-2000, default 150), newest first."""
    ctx = request.app[CONTEXT]
    market = _market(ctx, request)
    period = _period(request)
    size = _int(request, "size", default=150, low=1, high=2000, message="invalid size,valid range: [1, 2000]")
    now = ctx.clock.now_ms()
    candles = ctx.engine.klines(market.symbol, codec.PERIODS[period], limit=size, now_ms=now)
    data = [codec.kline_tick(c) for c in reversed(candles)]
    return reply(codec.ok(f"market.{codec.native(market.spec)}.kline.{period}", now, data=data))


async def history_candles(request: web.Request) -> web.Response:
    """``GET /market/history/candles?symbol=&period=&from=&to=&size=`` (seconds; size ≤ 1000).

    The candles opening in ``[from, to]``: the oldest ``size`` after ``from`` when it is given, else
    the newest; newest first like ``/market/history/kline``.
    """
    ctx = request.app[CONTEXT]
    market = _market(ctx, request)
    period = _period(request)
    size = _int(request, "size", default=150, low=1, high=1000, message="invalid size,valid range: [1, 1000]")
    start = _int(request, "from", default=-1, low=0, high=2**40, message="invalid from")
    end = _int(request, "to", default=-1, low=0, high=2**40, message="invalid to")
    now = ctx.clock.now_ms()
    candles = ctx.engine.klines(
        market.symbol,
        codec.PERIODS[period],
        start_ms=start * 1000 if start >= 0 else None,
        end_ms=end * 1000 if end >= 0 else None,
        limit=size,
        now_ms=now,
    )
    data = [codec.kline_tick(c) for c in reversed(candles)]
    return reply(codec.ok(f"market.{codec.native(market.spec)}.kline.{period}", now, data=data))


async def trade(request: web.Request) -> web.Response:
    """``GET /market/trade?symbol=``: the latest taker order's fills."""
    ctx = request.app[CONTEXT]
    market = _market(ctx, request)
    now = ctx.clock.now_ms()
    groups = codec.trade_groups(market.trades)
    tick = codec.trade_tick(groups[-1], ws=False) if groups else {"id": 0, "ts": now, "data": []}
    return reply(codec.ok(f"market.{codec.native(market.spec)}.trade.detail", now, tick=tick))


async def history_trade(request: web.Request) -> web.Response:
    """``GET /market/history/trade?symbol=&size=`` (1-2000 groups, default 1), newest first."""
    ctx = request.app[CONTEXT]
    market = _market(ctx, request)
    size = _int(request, "size", default=1, low=1, high=2000, message="invalid size,valid range: [1, 2000]")
    now = ctx.clock.now_ms()
    groups = codec.trade_groups(market.trades)[-size:]
    data = [codec.trade_tick(g, ws=False) for g in reversed(groups)]
    return reply(codec.ok(f"market.{codec.native(market.spec)}.trade.detail", now, data=data))


# ---- reference data ---------------------------------------------------------------------------
async def timestamp(request: web.Request) -> web.Response:
    """``GET /v1/common/timestamp``."""
    return reply({"status": "ok", "data": request.app[CONTEXT].clock.now_ms()})


async def market_status(request: web.Request) -> web.Response:
    """``GET /v2/market-status``: always normal (1)."""
    return reply({"code": 200, "message": "success", "data": {"marketStatus": 1}})


async def v1_symbols(request: web.Request) -> web.Response:
    """``GET /v1/common/symbols`` (what ccxt's ``htx.fetch_markets`` reads for spot)."""
    ctx = request.app[CONTEXT]
    data = [codec.v1_symbol(m.spec) for m in ctx.engine.markets.values()]
    return reply({"status": "ok", "data": data})


async def v2_symbols(request: web.Request) -> web.Response:
    """``GET /v2/settings/common/symbols``."""
    ctx = request.app[CONTEXT]
    since = ctx.engine.start_ms
    data = [codec.v2_symbol(m.spec, since) for m in ctx.engine.markets.values()]
    return reply({"status": "ok", "data": data, "ts": str(ctx.clock.now_ms()), "full": 1})


async def currencies(request: web.Request) -> web.Response:
    """``GET /v2/reference/currencies`` (ccxt's ``fetch_currencies`` during ``load_markets``)."""
    ctx = request.app[CONTEXT]
    codes = sorted({a for m in ctx.engine.markets.values() for a in (m.spec.base, m.spec.quote)})
    return reply({"code": 200, "data": [codec.currency(c) for c in codes]})


def add_routes(app: web.Application) -> None:
    """Register every REST endpoint."""
    for path, handler in (
        ("/market/detail/merged", detail_merged),
        ("/market/detail", detail),
        ("/market/tickers", tickers),
        ("/market/depth", depth),
        ("/market/history/kline", history_kline),
        ("/market/history/candles", history_candles),
        ("/market/trade", trade),
        ("/market/history/trade", history_trade),
        ("/v1/common/timestamp", timestamp),
        ("/v2/market-status", market_status),
        ("/v1/common/symbols", v1_symbols),
        ("/v2/settings/common/symbols", v2_symbols),
        ("/v2/reference/currencies", currencies),
    ):
        app.router.add_get(path, handler)
