"""The ``/_sim/faults`` admin endpoints every simulated venue serves (aiohttp, JSON, never rate-limited).

``GET`` answers the active settings, ``POST`` applies a JSON object of changes (``{"reset": true}``
restores the defaults first; an unknown fault or a bad value answers 400 ``{"error": …}``), ``DELETE``
restores the defaults. Every answer but an error is the settings after the change.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from core.sim.faults import FaultSettings


def json_response(body: Any, status: int = 200) -> web.Response:
    """``body`` as an ``application/json`` response, encoded with orjson."""
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


class FaultsAdmin:
    """GET/POST/DELETE handlers on one live :class:`FaultSettings`."""

    def __init__(self, faults: FaultSettings, path: str = "/_sim/faults") -> None:
        self.faults = faults
        self.path = path

    def routes(self) -> list[web.RouteDef]:
        """The three routes, for ``app.add_routes``."""
        return [
            web.get(self.path, self.get),
            web.post(self.path, self.post),
            web.delete(self.path, self.delete),
        ]

    async def get(self, request: web.Request) -> web.Response:
        """The active settings."""
        return json_response(self.faults.as_dict())

    async def post(self, request: web.Request) -> web.Response:
        """Apply a JSON object of changes."""
        try:
            changes = orjson.loads(await request.read())
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            self.faults.update(changes)
        except ValueError as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(self.faults.as_dict())

    async def delete(self, request: web.Request) -> web.Response:
        """Restore the defaults."""
        self.faults.update({"reset": True})
        return json_response(self.faults.as_dict())
