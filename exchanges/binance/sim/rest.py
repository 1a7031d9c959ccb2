"""``/api/v3`` market-data endpoints: documented parameters, weights, errors and headers.

Every endpoint is ``(weight of the request, body)``; :meth:`RestApi.handle` charges the weight,
applies REST faults and renders Binance's JSON error shape ``{"code": -1121, "msg": "Invalid symbol."}``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from core.intervals import Interval
from core.sim import MarketEngine, MarketState
from core.sim.units import fmt
from exchanges.binance.sim import codec
from exchanges.binance.sim.faults import Faults
from exchanges.binance.sim.ratelimit import WeightLimiter

SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
INT_RE = re.compile(r"^[0-9]{1,20}$")
ILLEGAL = "Illegal characters found in parameter '{name}'; legal range is '{legal}'."
SYMBOL_RANGE = "^[A-Z0-9-_.]{1,20}$"
SYMBOLS_RANGE = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
RATE_MSG = (
    "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
BAN_MSG = (
    "Way too much request weight used; IP banned until {until}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)
JSON_TYPE = "application/json;charset=UTF-8"


class ApiError(Exception):
    """A Binance error answer: HTTP status plus ``{"code", "msg"}``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


Endpoint = Callable[[Mapping[str, str]], tuple[int, Callable[[], Any]]]
"""Parses the query; returns the weight and a thunk building the body (run after charging)."""


def _mandatory(query: Mapping[str, str], name: str) -> str:
    if name not in query:
        raise ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    value = query[name]
    if value == "":
        raise ApiError(-1105, f"Parameter '{name}' was empty.")
    return value


def _int(query: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    value = query.get(name)
    if value is None:
        return default
    if value == "":
        raise ApiError(-1105, f"Parameter '{name}' was empty.")
    if not INT_RE.match(value):
        raise ApiError(-1100, ILLEGAL.format(name=name, legal=INT_RE.pattern))
    return int(value)


def _symbol_list(query: Mapping[str, str]) -> list[str] | None:
    raw = query.get("symbols")
    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if (
        not isinstance(parsed, list)
        or not parsed
        or not all(isinstance(s, str) and SYMBOL_RE.match(s) for s in parsed)
    ):
        raise ApiError(-1100, ILLEGAL.format(name="symbols", legal=SYMBOLS_RANGE))
    if len(set(parsed)) != len(parsed):
        raise ApiError(-1101, "Duplicate values for a parameter detected.")
    return [str(s) for s in parsed]


class RestApi:
    """The REST half of the venue."""

    def __init__(self, engine: MarketEngine, faults: Faults, limiter: WeightLimiter) -> None:
        self.engine = engine
        self.faults = faults
        self.limiter = limiter
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        """Answers sent, by HTTP status (429s from the weight limit and injected ones alike)."""
        self.endpoints: dict[str, Endpoint] = {
            "ping": self.ping,
            "time": self.time,
            "exchangeInfo": self.exchange_info,
            "depth": self.depth,
            "trades": self.trades,
            "aggTrades": self.agg_trades,
            "klines": self.klines,
            "uiKlines": self.klines,
            "ticker/24hr": self.ticker_24hr,
            "ticker/price": self.ticker_price,
            "ticker/bookTicker": self.book_ticker,
            "avgPrice": self.avg_price,
        }

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes (GET only, as on Binance)."""
        return [web.get(f"/api/v3/{path}", self._bind(endpoint)) for path, endpoint in self.endpoints.items()]

    def _bind(self, endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self.handle(request, endpoint)

        return handler

    # ---- dispatch -------------------------------------------------------------------------------
    async def handle(self, request: web.Request, endpoint: Endpoint) -> web.Response:
        """Charge the weight, apply faults, answer the body or a Binance error; count the status."""
        response = await self._answer(request, endpoint)
        self.statuses[response.status] += 1
        return response

    async def _answer(self, request: web.Request, endpoint: Endpoint) -> web.Response:
        faults = self.faults
        self.requests += 1
        count = self.requests
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        ip = request.remote or "unknown"
        now = self.engine.clock.now_ms()
        self.limiter.limit = faults.weight_limit
        try:
            weight, build = endpoint(request.query)
        except ApiError as exc:
            weight, build = 1, _raiser(exc)
        verdict = self.limiter.charge(ip, weight, now)
        headers = {"X-MBX-USED-WEIGHT": str(verdict.used), "X-MBX-USED-WEIGHT-1M": str(verdict.used)}
        if verdict.status != 200:
            headers["Retry-After"] = str(verdict.retry_after)
            msg = (
                RATE_MSG.format(limit=self.limiter.limit)
                if verdict.status == 429
                else BAN_MSG.format(until=verdict.banned_until)
            )
            return _json({"code": -1003, "msg": msg}, verdict.status, headers)
        if faults.http_error_every and count % faults.http_error_every == 0:
            status = faults.http_error_status
            if status in (429, 418):
                headers["Retry-After"] = str(faults.retry_after)
                until = now + faults.retry_after * 1000
                limit = self.limiter.limit
                msg = RATE_MSG.format(limit=limit) if status == 429 else BAN_MSG.format(until=until)
                return _json({"code": -1003, "msg": msg}, status, headers)
            return web.Response(
                status=status,
                text="<html><body><h1>Service Unavailable</h1></body></html>",
                content_type="text/html",
                headers=headers,
            )
        try:
            body = orjson.dumps(build())
        except ApiError as exc:
            return _json({"code": exc.code, "msg": exc.msg}, exc.status, headers)
        if faults.malformed_every and count % faults.malformed_every == 0:
            body = body[: max(1, len(body) // 2)]
        return web.Response(body=body, status=200, headers={**headers, "Content-Type": JSON_TYPE})

    def _market(self, query: Mapping[str, str]) -> MarketState:
        return self._lookup(_mandatory(query, "symbol"))

    def _lookup(self, symbol: str) -> MarketState:
        if not SYMBOL_RE.match(symbol):
            raise ApiError(-1100, ILLEGAL.format(name="symbol", legal=SYMBOL_RANGE))
        market = self.engine.markets.get(symbol)
        if market is None:
            raise ApiError(-1121, "Invalid symbol.")
        return market

    def _markets(self, query: Mapping[str, str]) -> list[MarketState] | None:
        """``symbol`` xor ``symbols`` → markets; neither → ``None`` (all)."""
        symbols = _symbol_list(query)
        if symbols is not None and "symbol" in query:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if "symbol" in query:
            return [self._market(query)]
        if symbols is not None:
            return [self._lookup(s) for s in symbols]
        return None

    # ---- endpoints ------------------------------------------------------------------------------
    def ping(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/ping`` — weight 1."""
        return 1, dict

    def time(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/time`` — weight 1."""
        return 1, lambda: {"serverTime": self.engine.clock.now_ms()}

    def exchange_info(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/exchangeInfo`` — weight 20; ``symbol``, ``symbols``, ``permissions``,
        ``showPermissionSets``, ``symbolStatus``."""
        markets = self._markets(query)
        raw_permissions = query.get("permissions")
        permissions: set[str] | None = None
        if raw_permissions is not None:
            if markets is not None:
                raise ApiError(-1128, "Combination of optional parameters invalid.")
            try:
                value = json.loads(raw_permissions) if raw_permissions.startswith("[") else raw_permissions
            except ValueError:
                raise ApiError(-1100, "Illegal characters found in parameter 'permissions'.") from None
            permissions = {value} if isinstance(value, str) else {str(p) for p in value}
        status = query.get("symbolStatus")
        if status is not None and status not in {"TRADING", "HALT", "BREAK"}:
            raise ApiError(-1100, "Illegal characters found in parameter 'symbolStatus'.")
        show_sets = query.get("showPermissionSets", "true") != "false"

        def build() -> dict[str, Any]:
            chosen = markets if markets is not None else list(self.engine.markets.values())
            if permissions is not None:
                chosen = [m for m in chosen if codec.permissions_of(m.spec) & permissions]
            if status is not None:
                chosen = [m for m in chosen if m.spec.status == status]
            symbols = [codec.symbol_info(m.spec) for m in chosen]
            if not show_sets:
                for entry in symbols:
                    entry["permissionSets"] = []
            return {
                "timezone": "UTC",
                "serverTime": self.engine.clock.now_ms(),
                "rateLimits": codec.rate_limits(self.faults.weight_limit),
                "exchangeFilters": [],
                "symbols": symbols,
            }

        return 20, build

    def depth(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/depth`` — limit default 100, max 5000; weight 5/25/50/250 by limit."""
        market = self._market(query)
        limit = _int(query, "limit", 100) or 0
        if limit < 1:
            raise ApiError(-1100, ILLEGAL.format(name="limit", legal=INT_RE.pattern))
        limit = min(limit, 5000)
        weight = 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        return weight, lambda: codec.depth(self.engine.snapshot(market.spec.symbol, limit))

    def trades(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/trades`` — recent trades, limit default 500, max 1000; weight 25."""
        market = self._market(query)
        limit = min(max(_int(query, "limit", 500) or 1, 1), 1000)
        return 25, lambda: [codec.rest_trade(t) for t in list(market.trades)[-limit:]]

    def agg_trades(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/aggTrades`` — ``fromId``, ``startTime``, ``endTime``, ``limit`` (≤1000); weight 4."""
        market = self._market(query)
        limit = min(max(_int(query, "limit", 500) or 1, 1), 1000)
        from_id = _int(query, "fromId")
        start, end = _int(query, "startTime"), _int(query, "endTime")
        if from_id is not None and (start is not None or end is not None):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > 3_600_000:
            raise ApiError(-1127, "More than 1 hours between startTime and endTime.")

        def build() -> list[dict[str, Any]]:
            trades = list(market.trades)
            if from_id is not None:
                chosen = [t for t in trades if t.agg_id >= from_id][:limit]
            elif start is not None or end is not None:
                chosen = [
                    t
                    for t in trades
                    if (start is None or t.time_ms >= start) and (end is None or t.time_ms <= end)
                ][:limit]
            else:
                chosen = trades[-limit:]
            return [codec.rest_agg_trade(t) for t in chosen]

        return 4, build

    def klines(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/klines`` — ``interval``, ``startTime``, ``endTime``, ``timeZone``, ``limit``
        (default 500, max 1000); weight 2."""
        market = self._market(query)
        raw_interval = _mandatory(query, "interval")
        try:
            interval = Interval.parse(raw_interval)
        except ValueError:
            raise ApiError(-1120, "Invalid interval.") from None
        limit = min(max(_int(query, "limit", 500) or 1, 1), 1000)
        start, end = _int(query, "startTime"), _int(query, "endTime")
        if start is not None and end is not None and start > end:
            raise ApiError(-1023, "Start time is greater than end time.")
        _check_time_zone(query.get("timeZone"), interval)
        symbol = market.spec.symbol

        def build() -> list[list[Any]]:
            candles = self.engine.klines(symbol, interval, start_ms=start, end_ms=end, limit=limit)
            return [codec.kline_row(c) for c in candles]

        return 2, build

    def ticker_24hr(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/ticker/24hr`` — ``symbol`` | ``symbols`` | all; ``type`` FULL or MINI.
        Weight 2 for one symbol, 2/40/80 for 1-20/21-100/101+ symbols, 80 for all."""
        markets = self._markets(query)
        kind = query.get("type", "FULL")
        if kind not in {"FULL", "MINI"}:
            raise ApiError(-1139, "Invalid ticker type.")
        render = codec.ticker_full if kind == "FULL" else codec.ticker_mini
        single = "symbol" in query
        weight = 80 if markets is None else 2 if len(markets) <= 20 else 40 if len(markets) <= 100 else 80

        def build() -> Any:
            now = self.engine.clock.now_ms()
            chosen = markets if markets is not None else list(self.engine.markets.values())
            rows = [render(m, self.engine.stats(m, now)) for m in chosen]
            return rows[0] if single else rows

        return weight, build

    def ticker_price(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/ticker/price`` — weight 2 for one symbol, 4 otherwise."""
        markets = self._markets(query)

        def build() -> Any:
            now = self.engine.clock.now_ms()
            chosen = markets if markets is not None else list(self.engine.markets.values())
            rows = [
                {"symbol": m.spec.symbol, "price": fmt(self.engine.candle(m, Interval.M1, now).close)}
                for m in chosen
            ]
            return rows[0] if "symbol" in query else rows

        return (2 if "symbol" in query else 4), build

    def book_ticker(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/ticker/bookTicker`` — weight 2 for one symbol, 4 otherwise."""
        markets = self._markets(query)

        def build() -> Any:
            chosen = markets if markets is not None else list(self.engine.markets.values())
            rows = [codec.book_ticker(m) for m in chosen]
            return rows[0] if "symbol" in query else rows

        return (2 if "symbol" in query else 4), build

    def avg_price(self, query: Mapping[str, str]) -> tuple[int, Callable[[], Any]]:
        """``GET /api/v3/avgPrice`` — 5-minute average; weight 2."""
        market = self._market(query)

        def build() -> dict[str, Any]:
            now = self.engine.clock.now_ms()
            last = market.last_trade.time_ms if market.last_trade else now
            return {"mins": 5, "price": fmt(self.engine.avg_price(market, 5, now)), "closeTime": last}

        return 2, build


def _check_time_zone(raw: str | None, interval: Interval) -> None:
    """``timeZone`` is optional; UTC (``0``, ``+00:00``…) always works, other whole-hour offsets only
    for intervals up to 1h, where alignment does not change."""
    if raw is None or raw == "":
        return
    match = re.fullmatch(r"([+-]?)(\d{1,2})(?::(\d{2}))?", raw.strip())
    if match is None:
        raise ApiError(-1100, "Illegal characters found in parameter 'timeZone'.")
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes >= 60:
        raise ApiError(-1130, "Invalid data sent for a parameter.")
    if (hours or minutes) and (minutes or interval.minutes > 60):
        raise ApiError(-1130, "Invalid data sent for a parameter.")


def _raiser(exc: ApiError) -> Callable[[], Any]:
    def build() -> Any:
        raise exc

    return build


def _json(body: Any, status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers={**headers, "Content-Type": JSON_TYPE}
    )
