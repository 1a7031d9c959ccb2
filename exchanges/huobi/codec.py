"""Exact decoding of HTX messages: gzip frames and JSON whose numbers keep their text.

HTX sends prices as JSON numbers (``49820.92``, ``1.82E-4``). ``orjson`` and a plain ``json.loads``
turn them into floats; here every non-integer number becomes the ``Decimal`` of its exact text.
"""

from __future__ import annotations

import gzip
import json
import zlib
from decimal import Decimal
from typing import Any

from core.errors import BadResponseError


def loads(text: str | bytes) -> Any:
    """Parse JSON with floats as exact ``Decimal`` (ints stay ints)."""
    return json.loads(text, parse_float=Decimal)


def loads_text(text: str | bytes) -> Any:
    """Parse JSON with floats kept as their literal text (for ccxt, which expects str numbers)."""
    return json.loads(text, parse_float=str)


def unpack(frame: bytes | str) -> Any:
    """Decode one websocket frame (gzip binary or plain text); :class:`BadResponseError` if broken."""
    try:
        raw = gzip.decompress(frame) if isinstance(frame, bytes) else frame
        return loads(raw)
    except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise BadResponseError(f"undecodable HTX frame ({type(exc).__name__}: {exc})") from exc
