"""The one error hierarchy of quotewire.

Every failure the framework reports is a :class:`QuotewireError`. Third-party exceptions (ccxt,
redis-py) are translated into these in exactly one place each, so callers catch meaningful types.
"""

from __future__ import annotations


class QuotewireError(Exception):
    """Base of every error quotewire raises on purpose."""


class ConfigError(QuotewireError):
    """The configuration is invalid; the message names the file, the path and what was expected."""


class PluginError(QuotewireError):
    """A plugin is unknown, broken or does not honour the contract."""


class NotSupportedError(QuotewireError):
    """The adapter or venue cannot serve the requested channel, interval or size."""


class TransientError(QuotewireError):
    """A network or venue failure that may pass: retry later with backoff."""


class VenueShutdownError(TransientError):
    """The venue announced that it will close the connection soon (Binance's ``serverShutdown``): open a
    new one while this one still delivers."""


class RateLimitedError(TransientError):
    """The venue refused the request for exceeding its rate limit.

    ``retry_after`` is the delay in seconds the venue asked for (``Retry-After``), if any;
    ``banned`` is true for Binance's HTTP 418 (an IP ban for ignoring 429s).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, banned: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.banned = banned


class UnknownSymbolError(QuotewireError):
    """The symbol is not listed by the venue or the instance."""

    def __init__(self, message: str, *, symbol: str = "", suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.suggestions = suggestions


class BadResponseError(QuotewireError):
    """The venue sent something that cannot be parsed or breaks its documented shape."""


class SequenceGapError(QuotewireError):
    """An incremental order-book stream skipped an update; the book must be resynced."""


class StorageError(QuotewireError):
    """Redis is unreachable or refused a command."""


class NotFoundError(QuotewireError):
    """The requested record does not exist (yet) in the store."""
