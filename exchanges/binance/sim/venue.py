"""The simulated Binance venue: one aiohttp server for REST, websockets and the ``/_sim`` admin API.

Admin API (JSON):

* ``GET /_sim/faults`` — the active faults; ``POST /_sim/faults`` with ``{"drop_every": 3, …}`` or
  ``{"reset": true}`` changes them, ``DELETE /_sim/faults`` resets them (:mod:`core.sim.admin`; the
  faults are in :mod:`exchanges.binance.sim.faults`).
* ``POST /_sim/inject`` — one-off events: ``{"event": "serverShutdown", "close_after_ms": 1000}``
  (the documented event to every websocket, then close them), ``{"event": "disconnect"}`` (drop every
  websocket now; with ``"symbol": "BTCUSDT"`` only those carrying one of that symbol's streams),
  ``{"event": "gap", "symbol": "BTCUSDT"}`` (the symbol's next depth diff is never sent),
  ``{"event": "mispricing", "symbol": "ETHBTC", "bps": 50, "at_ms": null}``.
* ``POST /_sim/pause`` / ``POST /_sim/resume`` — stop and restart the market (books freeze).
* ``GET /_sim/state`` — seed, symbols, steps, connections, frames sent (and by ms after their event
  time they reached the socket: ``send_lag_ms``), REST answers by status and
  the highest weight a client used in one minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from core.clock import SYSTEM_CLOCK, Clock
from core.sim import MarketEngine
from core.sim.admin import FaultsAdmin, json_response
from exchanges.binance.sim.faults import Faults
from exchanges.binance.sim.ratelimit import WeightLimiter
from exchanges.binance.sim.rest import RestApi
from exchanges.binance.sim.streams import HIGH_WATER, Hub
from exchanges.binance.sim.ws import WsEndpoint, WsSettings

log = logging.getLogger(__name__)


class BinanceVenue:
    """A :class:`core.venue.SimulatedVenue` speaking Binance's spot market-data protocol.

    ``instance_urls()`` is ``{"rest": "http://HOST:PORT", "websocket": "ws://HOST:PORT"}`` — the same
    roots as ``https://api.binance.com`` and ``wss://stream.binance.com:9443``: a client appends
    ``/api/v3/<endpoint>`` for REST and ``/ws``, ``/ws/<stream>`` or ``/stream?streams=…`` for streams.
    """

    name = "binance"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        symbols: int = 50,
        firehose: bool = False,
        rate: float = 200.0,
        faults: Mapping[str, int] | None = None,
        ping_interval: float = 20.0,
        pong_timeout: float = 60.0,
        lifetime: float = 86_400.0,
        max_incoming_per_s: int = 5,
        kline_ms: int = 2000,
        ticker_ms: int = 1000,
        firehose_batch: int = 256,
        warmup: int = 2000,
        clock: Clock = SYSTEM_CLOCK,
        **engine_options: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self.symbols = symbols
        self.firehose = firehose
        self.rate = rate
        self.firehose_batch = firehose_batch
        self.warmup = warmup
        self.clock = clock
        self.faults = Faults()
        if faults:
            self.faults.update(dict(faults))
        self.settings = WsSettings(ping_interval, pong_timeout, lifetime, max_incoming_per_s)
        self._engine_options = engine_options
        self._kline_ms = kline_ms
        self._ticker_ms = ticker_ms
        self._engine: MarketEngine | None = None
        self._hub: Hub | None = None
        self._ws: WsEndpoint | None = None
        self._runner: web.AppRunner | None = None
        self._market_task: asyncio.Task[None] | None = None
        self._closers: set[asyncio.Task[None]] = set()
        self._rest: RestApi | None = None

    # ---- SimulatedVenue -------------------------------------------------------------------------
    @property
    def engine(self) -> MarketEngine:
        """The market behind the venue (available after :meth:`start`)."""
        if self._engine is None:
            raise RuntimeError("the venue is not started")
        return self._engine

    @property
    def hub(self) -> Hub:
        """The stream fan-out (available after :meth:`start`)."""
        if self._hub is None:
            raise RuntimeError("the venue is not started")
        return self._hub

    @property
    def rest(self) -> RestApi:
        """The REST endpoints, with their status and weight counters (available after :meth:`start`)."""
        if self._rest is None:
            raise RuntimeError("the venue is not started")
        return self._rest

    async def start(self) -> None:
        """Build the market, bind the port and start publishing."""
        if self._runner is not None:
            return
        self._engine = MarketEngine(
            seed=self.seed, symbols=self.symbols, clock=self.clock, rate=self.rate, **self._engine_options
        )
        if self.warmup:  # a real venue always has recent trades and a moved book
            self._engine.step(self.warmup)
        self._hub = Hub(self._engine, kline_ms=self._kline_ms, ticker_ms=self._ticker_ms)
        self._engine.add_listener(self._hub)
        self._engine.add_throttle(self._drain)
        self._ws = WsEndpoint(self._hub, self.faults, self.settings)
        rest = self._rest = RestApi(self._engine, self.faults, WeightLimiter(self.faults.weight_limit))
        app = web.Application()
        app.add_routes(rest.routes())
        app.add_routes(self._ws.routes())
        app.add_routes(self._admin_routes())
        app.router.add_route("*", "/{tail:.*}", _not_found)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, max_line_size=65536)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only through the server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        self.resume()
        log.info(
            "binance sim: listening on %s:%d (seed %d, %d symbols)",
            self.host,
            self.port,
            self.seed,
            len(self._engine.markets),
        )

    async def stop(self) -> None:
        """Stop the market, close every connection and the server; safe to call twice."""
        await self.pause()
        for task in list(self._closers):
            task.cancel()
        if self._ws is not None:
            await self._ws.close_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def base_urls(self) -> Mapping[str, str]:
        """Where clients point: REST root, ``/api/v3`` (ccxt ``urls.api.public``), ``/ws``, ``/stream``."""
        root = f"{self.host}:{self.port}"
        return {
            "rest": f"http://{root}",
            "websocket": f"ws://{root}",
            "api": f"http://{root}/api/v3",
            "ws": f"ws://{root}/ws",
            "stream": f"ws://{root}/stream",
            "admin": f"http://{root}/_sim",
        }

    def instance_urls(self) -> Mapping[str, str]:
        """The ``urls:`` of a quotewire instance: roots only (the adapter appends the Binance paths)."""
        root = f"{self.host}:{self.port}"
        return {"rest": f"http://{root}", "websocket": f"ws://{root}"}

    # ---- control --------------------------------------------------------------------------------
    async def pause(self) -> None:
        """Stop the market loop (books and candles freeze until :meth:`resume`)."""
        task, self._market_task = self._market_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def resume(self) -> None:
        """(Re)start the market loop."""
        if self._market_task is None:
            self._market_task = asyncio.create_task(
                self.engine.run(firehose=self.firehose, batch=self.firehose_batch), name="binance-sim-market"
            )

    @property
    def paused(self) -> bool:
        """True while the market loop is stopped."""
        return self._market_task is None

    async def _drain(self) -> None:
        """Firehose backpressure: wait while a client has more than ``HIGH_WATER`` bytes unsent."""
        hub = self.hub
        while any(conn.backlog() > HIGH_WATER for conn in hub.connections):  # noqa: ASYNC110 - polls sockets
            await asyncio.sleep(0.001)

    def server_shutdown(self, close_after_ms: int = 1000) -> None:
        """Send ``serverShutdown`` to every websocket, then close them after ``close_after_ms``.

        Only the connections open now are closed: as on Binance, where the announcing server goes
        away and a client's new connection lands on another one, reconnecting is the way out.
        """
        now = self.clock.now_ms()
        self.hub.broadcast(self.hub.shutdown_payload(now), now)
        announced = frozenset(self._ws.sockets) if self._ws is not None else frozenset()

        async def close_later() -> None:
            await asyncio.sleep(close_after_ms / 1000)
            if self._ws is not None:
                await self._ws.close_all(1001, b"Server shutdown", only=announced)

        task = asyncio.create_task(close_later(), name="binance-sim-shutdown")
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def disconnect_all(self) -> None:
        """Drop every websocket at once, as a network failure would."""
        for conn in list(self.hub.connections):
            conn.request_close("abort")

    def disconnect(self, symbol: str) -> int:
        """Drop the websockets carrying a stream of ``symbol`` (``BTCUSDT``); return how many."""
        if symbol not in self.engine.markets:
            raise ValueError(f"unknown symbol {symbol!r}")
        prefix = f"{symbol.lower()}@"
        dropped = [c for c in self.hub.connections if any(n.startswith(prefix) for n in c.streams)]
        for conn in dropped:
            conn.request_close("abort")
        return len(dropped)

    def inject_gap(self, symbol: str) -> None:
        """Never send the next depth diff event of ``symbol`` (``BTCUSDT``): one sequence gap."""
        if symbol not in self.engine.markets:
            raise ValueError(f"unknown symbol {symbol!r}")
        self.hub.gaps.add(symbol)

    # ---- admin API ------------------------------------------------------------------------------
    def _admin_routes(self) -> list[web.RouteDef]:
        return [
            *FaultsAdmin(self.faults).routes(),
            web.post("/_sim/inject", self._inject),
            web.post("/_sim/pause", self._pause),
            web.post("/_sim/resume", self._resume),
            web.get("/_sim/state", self._state),
        ]

    async def _inject(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
            event = body.get("event") if isinstance(body, dict) else None
            if event == "serverShutdown":
                self.server_shutdown(int(body.get("close_after_ms", 1000)))
            elif event == "disconnect" and body.get("symbol") is not None:
                self.disconnect(str(body["symbol"]))
            elif event == "disconnect":
                self.disconnect_all()
            elif event == "gap":
                self.inject_gap(str(body["symbol"]))
            elif event == "mispricing":
                self.engine.inject_mispricing(str(body["symbol"]), int(body["bps"]), body.get("at_ms"))
            else:
                raise ValueError("event must be serverShutdown, disconnect, gap or mispricing")
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"error": f"bad injection: {exc}"}, 400)
        return json_response({"injected": event})

    async def _pause(self, request: web.Request) -> web.Response:
        await self.pause()
        return json_response({"paused": True})

    async def _resume(self, request: web.Request) -> web.Response:
        self.resume()
        return json_response({"paused": False})

    async def _state(self, request: web.Request) -> web.Response:
        engine = self.engine
        return json_response(
            {
                "venue": self.name,
                "seed": self.seed,
                "symbols": len(engine.markets),
                "steps": engine.steps,
                "firehose": self.firehose,
                "paused": self.paused,
                "connections": len(self.hub.connections),
                "frames_out": self.hub.frames_out,
                "send_lag_ms": {str(lag): frames for lag, frames in sorted(self.hub.send_lag.items())},
                "send_lag_ms_by_kind": {
                    kind: {str(lag): frames for lag, frames in sorted(counts.items())}
                    for kind, counts in self.hub.send_lag_by_kind.items()
                },
                "rest_statuses": {str(k): v for k, v in sorted(self.rest.statuses.items())},
                "peak_weight": self.rest.limiter.peak_used,
            }
        )


async def _not_found(request: web.Request) -> web.Response:
    return web.Response(body=b'{"code":-1,"msg":"Not found."}', status=404, content_type="application/json")


def create_venue(
    *, host: str = "127.0.0.1", port: int = 0, seed: int = 1, symbols: int = 50, **options: Any
) -> BinanceVenue:
    """The :class:`core.venue.VenueFactory` of the ``binance`` venue."""
    return BinanceVenue(host=host, port=port, seed=seed, symbols=symbols, **options)
