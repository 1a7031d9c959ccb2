"""The Paperex venue: a toy exchange on loopback, its market driven by quotewire's simulated engine.

Its REST protocol (JSON, every number a string, ids ``BTC_USDT``)::

    GET /v1/markets                                   {"markets": [{"id", "base", "quote", "tick", "lot",
                                                        "min_size", "min_value", "open"}]}
    GET /v1/markets/{id}/ticker                       {"ts", "open", "high", "low", "last", "volume",
                                                        "value", "bid", "bid_size", "ask", "ask_size"}
    GET /v1/markets/{id}/book?depth=N                 {"ts", "seq", "bids": [[price, size]], "asks": …}
    GET /v1/markets/{id}/trades?limit=N               {"trades": [{"id", "ts", "price", "size",
                                                        "side"}]}, newest first
    GET /v1/markets/{id}/candles?interval=1m&since=T&limit=N
                                                      {"candles": [[open_ms, o, h, l, c, volume]]}

Errors are ``{"error": "…"}`` with status 404 (unknown market) or 400 (bad parameter).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from core.intervals import Interval
from core.sim import MarketEngine, MarketState, fmt

INTERVALS = ("1m", "5m", "15m", "1h", "1d", "1w")
"""Paperex has no 30-minute or monthly candles."""


class PaperexVenue:
    """A running Paperex (``start``/``stop``); implements :class:`core.venue.SimulatedVenue`."""

    name = "paperex"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int = 1, symbols: int = 20) -> None:
        self.host, self.port, self.seed, self.symbols = host, port, seed, symbols
        self.engine: MarketEngine | None = None
        self._runner: web.AppRunner | None = None
        self._market_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Build the market, bind the port and start trading."""
        if self._runner is not None:
            return
        self.engine = MarketEngine(seed=self.seed, symbols=self.symbols, rate=100.0)
        self.engine.step(50 * self.symbols)  # open with some trading history
        app = web.Application()
        app.add_routes(
            [
                web.get("/v1/markets", self._markets),
                web.get("/v1/markets/{id}/{what}", self._market_data),
            ]
        )
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        self._market_task = asyncio.create_task(self.engine.run(), name="paperex-market")

    async def stop(self) -> None:
        """Stop trading and release the port; safe to call twice."""
        task, self._market_task = self._market_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def base_urls(self) -> Mapping[str, str]:
        """The REST root."""
        return {"rest": f"http://{self.host}:{self.port}"}

    def instance_urls(self) -> Mapping[str, str]:
        """The ``urls:`` block of a ``paperex`` instance."""
        return {"rest": self.base_urls()["rest"]}

    # ---- handlers ----------------------------------------------------------------------------------
    async def _markets(self, request: web.Request) -> web.Response:
        assert self.engine is not None
        markets = [
            {
                "id": f"{m.spec.base}_{m.spec.quote}",
                "base": m.spec.base,
                "quote": m.spec.quote,
                "tick": fmt(m.spec.tick, m.spec.price_precision),
                "lot": fmt(m.spec.step, m.spec.qty_precision),
                "min_size": fmt(m.spec.min_qty, m.spec.qty_precision),
                "min_value": fmt(m.spec.min_notional),
                "open": m.spec.trading,
            }
            for m in self.engine.markets.values()
        ]
        return web.json_response({"markets": markets})

    async def _market_data(self, request: web.Request) -> web.Response:
        assert self.engine is not None
        market = self.engine.markets.get(request.match_info["id"].replace("_", ""))
        if market is None:
            return web.json_response({"error": "no such market"}, status=404)
        handler = {
            "ticker": self._ticker,
            "book": self._book,
            "trades": self._trades,
            "candles": self._candles,
        }.get(request.match_info["what"])
        if handler is None:
            return web.json_response({"error": "not found"}, status=404)
        try:
            return web.json_response(handler(self.engine, market, request.query))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)

    @staticmethod
    def _ticker(engine: MarketEngine, m: MarketState, query: Mapping[str, str]) -> dict[str, Any]:
        s, dp, qp = engine.stats(m), m.spec.price_precision, m.spec.qty_precision
        bid, ask = m.book.best_bid or (0, 0), m.book.best_ask or (0, 0)
        return {
            "ts": s.close_time,
            **{k: fmt(getattr(s, k), dp) for k in ("open", "high", "low", "last")},
            "volume": fmt(s.volume, qp),
            "value": fmt(s.quote_volume),
            "bid": fmt(bid[0], dp),
            "bid_size": fmt(bid[1], qp),
            "ask": fmt(ask[0], dp),
            "ask_size": fmt(ask[1], qp),
        }

    @staticmethod
    def _book(engine: MarketEngine, m: MarketState, query: Mapping[str, str]) -> dict[str, Any]:
        snap = engine.snapshot(m.symbol, _int(query, "depth", 20, 1, 500))
        dp, qp = m.spec.price_precision, m.spec.qty_precision
        return {
            "ts": engine.last_step_ms,
            "seq": snap.last_update_id,
            "bids": [[fmt(p, dp), fmt(q, qp)] for p, q in snap.bids],
            "asks": [[fmt(p, dp), fmt(q, qp)] for p, q in snap.asks],
        }

    @staticmethod
    def _trades(engine: MarketEngine, m: MarketState, query: Mapping[str, str]) -> dict[str, Any]:
        recent = list(m.trades)[-_int(query, "limit", 50, 1, 1000) :]
        dp, qp = m.spec.price_precision, m.spec.qty_precision
        return {
            "trades": [
                {
                    "id": str(t.trade_id),
                    "ts": t.time_ms,
                    "price": fmt(t.price, dp),
                    "size": fmt(t.qty, qp),
                    "side": "sell" if t.buyer_maker else "buy",
                }
                for t in reversed(recent)
            ]
        }

    @staticmethod
    def _candles(engine: MarketEngine, m: MarketState, query: Mapping[str, str]) -> dict[str, Any]:
        if query.get("interval") not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
        since = int(query["since"]) if query.get("since", "").isdigit() else None
        rows = engine.klines(
            m.symbol, Interval(query["interval"]), start_ms=since, limit=_int(query, "limit", 100, 1, 1000)
        )
        dp, qp = m.spec.price_precision, m.spec.qty_precision
        return {
            "candles": [
                [c.open_time, *(fmt(v, dp) for v in (c.open, c.high, c.low, c.close)), fmt(c.volume, qp)]
                for c in rows
            ]
        }


def _int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}]")
    return int(text)


def create_venue(
    *, host: str = "127.0.0.1", port: int = 0, seed: int = 1, symbols: int = 20, **options: Any
) -> PaperexVenue:
    """The :class:`core.venue.VenueFactory` of Paperex (``options`` are ignored)."""
    return PaperexVenue(host=host, port=port, seed=seed, symbols=symbols)
