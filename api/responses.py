"""JSON responses encoded once with orjson (``ORJSONResponse`` is deprecated in this FastAPI)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSONBytesResponse(JSONResponse):
    """``application/json`` rendered with orjson; bytes pass through untouched."""

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)
