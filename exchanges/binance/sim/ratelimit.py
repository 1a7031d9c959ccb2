"""Binance's REQUEST_WEIGHT limiter: a fixed one-minute window per client IP, 429 then 418.

A request that takes the window over the limit is answered 429 with ``Retry-After`` (seconds to the
next minute). A client that sends more than ``ban_after`` requests into a window it already overran
is banned: 418 with ``Retry-After`` for ``ban_s`` seconds, doubling with each ban, as Binance does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

MINUTE_MS = 60_000


@dataclass(slots=True)
class Verdict:
    """The limiter's answer: ``status`` 200, 429 or 418; ``used`` weight; ``retry_after`` seconds."""

    status: int
    used: int
    retry_after: int = 0
    banned_until: int = 0


@dataclass(slots=True)
class _Client:
    window: int = 0
    used: int = 0
    rejected: int = 0
    banned_until: int = 0
    bans: int = 0


class WeightLimiter:
    """Counts request weight per IP and decides 200 / 429 / 418."""

    def __init__(self, limit: int = 6000, *, ban_after: int = 2, ban_s: int = 120) -> None:
        self.limit = limit
        self.ban_after = ban_after
        self.ban_s = ban_s
        self._clients: dict[str, _Client] = {}
        self.peak_used = 0
        """The highest weight any client had used in one window (its ``X-MBX-USED-WEIGHT-1M``)."""
        self.refused: Counter[int] = Counter()
        """Requests answered 429 or 418 because of the limit, by status."""

    def used(self, ip: str, now_ms: int) -> int:
        """Weight used by ``ip`` in the current minute."""
        client = self._clients.get(ip)
        if client is None or client.window != now_ms // MINUTE_MS:
            return 0
        return client.used

    def charge(self, ip: str, weight: int, now_ms: int) -> Verdict:
        """Count ``weight`` for ``ip`` and say whether the request may be served."""
        client = self._clients.setdefault(ip, _Client())
        window = now_ms // MINUTE_MS
        if client.window != window:
            client.window, client.used, client.rejected = window, 0, 0
        if client.banned_until > now_ms:
            self.refused[418] += 1
            return Verdict(418, client.used, _ceil_s(client.banned_until - now_ms), client.banned_until)
        client.used += weight
        self.peak_used = max(self.peak_used, client.used)
        if client.used <= self.limit:
            return Verdict(200, client.used)
        client.rejected += 1
        if client.rejected > self.ban_after + 1:
            client.bans += 1
            client.banned_until = now_ms + self.ban_s * 1000 * 2 ** (client.bans - 1)
            self.refused[418] += 1
            return Verdict(418, client.used, _ceil_s(client.banned_until - now_ms), client.banned_until)
        self.refused[429] += 1
        return Verdict(429, client.used, _ceil_s((window + 1) * MINUTE_MS - now_ms))

    def reset(self) -> None:
        """Forget every counter and ban."""
        self._clients.clear()
        self.peak_used = 0
        self.refused.clear()


def _ceil_s(ms: int) -> int:
    return max(1, -(-ms // 1000))
