"""Bounds of the request parameters, shared by the FastAPI routes (which declare and document them)
and :mod:`api.hot` (which answers the hottest routes itself and must refuse nothing they accept)."""

from __future__ import annotations

MAX_NAME = 64
"""Longest instance name, symbol (path) or legacy ``code`` (query) accepted."""
MAX_LEGACY_PAGE = 10_000_000
"""Highest ``pageSize`` (a page number) of the legacy ``/GetData/``."""
