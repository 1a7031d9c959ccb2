"""The simulated HTX venue: one aiohttp server on loopback for REST, ``/ws``, ``/feed`` and admin.

Admin endpoints (never rate-limited): ``GET /_sim/faults`` (current settings), ``POST /_sim/faults``
with a JSON object of fault settings (``{"reset": true}`` restores the defaults first), ``DELETE
/_sim/faults`` (reset), served by :mod:`core.sim.admin`. See :mod:`exchanges.huobi.sim.faults` for the
list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from core.clock import SYSTEM_CLOCK, Clock
from core.sim import MarketEngine
from core.sim.admin import FaultsAdmin
from exchanges.huobi.sim import rest, wsserver
from exchanges.huobi.sim.context import VenueContext
from exchanges.huobi.sim.hub import Hub
from exchanges.huobi.sim.session import Session

log = logging.getLogger(__name__)
UTC8_MS = 8 * 3_600_000
"""HTX aligns 1day, 1week and 1mon candles to midnight Beijing time."""


class HuobiVenue:
    """A running simulated HTX spot market (implements :class:`core.venue.SimulatedVenue`)."""

    name = "huobi"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        symbols: int = 50,
        ping_interval: float = 5.0,
        rate: float = 200.0,
        clock: Clock = SYSTEM_CLOCK,
        **engine_options: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.rate = rate
        self.clock = clock
        self.engine = MarketEngine(
            seed=seed, symbols=symbols, utc_offset_ms=UTC8_MS, clock=clock, history=2000, **engine_options
        )
        self.context = VenueContext(self.engine, clock)
        self.hub = Hub(self.context)
        self.ping_interval = ping_interval
        self._runner: web.AppRunner | None = None
        self._engine_task: asyncio.Task[None] | None = None
        self._sessions: set[Session] = set()

    @property
    def faults(self) -> Any:
        """The live :class:`~exchanges.huobi.sim.faults.Faults` (tests may set fields directly)."""
        return self.context.faults

    def build_app(self) -> web.Application:
        """The aiohttp application (no I/O)."""
        app = web.Application(middlewares=[rest.fault_middleware])
        app[rest.CONTEXT] = self.context
        app[wsserver.HUB] = self.hub
        app[wsserver.PING_INTERVAL] = self.ping_interval
        app[wsserver.SESSIONS] = self._sessions
        rest.add_routes(app)
        app.router.add_get("/ws", wsserver.websocket)
        app.router.add_get("/feed", wsserver.websocket)
        app.add_routes(FaultsAdmin(self.context.faults).routes())
        return app

    async def start(self) -> None:
        """Bind the port and start the engine."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.build_app(), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        self.engine.add_listener(self.hub)
        self._engine_task = asyncio.create_task(self.engine.run(rate=self.rate), name="huobi-sim-engine")
        log.info("huobi-sim: listening on %s", self.base_urls()["rest"])

    async def stop(self) -> None:
        """Stop the engine, close every websocket, release the port; safe to call twice."""
        task, self._engine_task = self._engine_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.engine.remove_listener(self.hub)
        for session in list(self._sessions):
            session.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def pause(self) -> None:
        """Stop the market loop (books, trades and candles freeze until :meth:`resume`)."""
        task, self._engine_task = self._engine_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def resume(self) -> None:
        """(Re)start the market loop after :meth:`pause`."""
        if self._engine_task is None and self._runner is not None:
            self._engine_task = asyncio.create_task(self.engine.run(rate=self.rate), name="huobi-sim-engine")

    @property
    def paused(self) -> bool:
        """True while the market loop is stopped."""
        return self._engine_task is None

    def disconnect_all(self) -> None:
        """Close every websocket at once, as a network failure would."""
        for session in list(self._sessions):
            session.close()

    async def __aenter__(self) -> HuobiVenue:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def base_urls(self) -> Mapping[str, str]:
        """REST root, ``/ws`` and ``/feed``."""
        root = f"{self.host}:{self.port}"
        return {"rest": f"http://{root}", "websocket": f"ws://{root}/ws", "feed": f"ws://{root}/feed"}

    def instance_urls(self) -> Mapping[str, str]:
        """The ``urls:`` block of a quotewire ``huobi`` instance (``/feed`` is derived from ``/ws``)."""
        urls = self.base_urls()
        return {"rest": urls["rest"], "websocket": urls["websocket"]}


def create_venue(
    *, host: str = "127.0.0.1", port: int = 0, seed: int = 1, symbols: int = 50, **options: Any
) -> HuobiVenue:
    """The ``huobi`` :class:`~core.venue.VenueFactory`."""
    return HuobiVenue(host=host, port=port, seed=seed, symbols=symbols, **options)
