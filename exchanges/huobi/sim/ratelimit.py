"""HTX's per-IP market-data limit: a sliding window of request times per client address.

HTX answers a request over the limit with HTTP 429 and its error envelope
``{"status":"error","err-code":"invalid-parameter","err-msg":"request limit"}`` (see
``shared/fixtures/htx/rest_error_request_limit.json``); ccxt maps ``request limit`` to
``RateLimitExceeded``.
"""

from __future__ import annotations

from collections import deque


class RequestLimiter:
    """Allows ``limit`` requests per ``window_ms`` per IP; rejected requests are not counted."""

    def __init__(self) -> None:
        self._clients: dict[str, deque[int]] = {}

    def allow(self, ip: str, now_ms: int, limit: int, window_ms: int) -> bool:
        """Count one request of ``ip`` at ``now_ms`` when it fits; False when it does not."""
        times = self._clients.setdefault(ip, deque())
        while times and times[0] <= now_ms - window_ms:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now_ms)
        return True
