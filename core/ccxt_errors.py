"""The one place where ccxt exceptions become quotewire errors.

Every ccxt call of every adapter runs inside :func:`ccxt_errors`, so callers only ever see
:mod:`core.errors` types. The HTTP status and headers of the failing response (which ccxt does not
attach to its exceptions) are passed in so ``Retry-After`` and Binance's 418 ban can be honoured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import ccxt

from core.errors import (
    BadResponseError,
    ConfigError,
    NotSupportedError,
    QuotewireError,
    RateLimitedError,
    TransientError,
    UnknownSymbolError,
)

HTTP_TEAPOT_BAN = 418
HTTP_TOO_MANY_REQUESTS = 429


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The ``Retry-After`` delay in seconds, when the header is present and numeric."""
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def translate_ccxt_error(
    exc: Exception, *, instance: str, status: int | None = None, headers: Mapping[str, str] | None = None
) -> QuotewireError:
    """Map a ccxt exception to the matching :class:`~core.errors.QuotewireError`."""
    if isinstance(exc, QuotewireError):
        return exc
    text = f"{instance}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or status in (
        HTTP_TOO_MANY_REQUESTS,
        HTTP_TEAPOT_BAN,
    ):
        banned = status == HTTP_TEAPOT_BAN or (status is None and " 418 " in str(exc))
        return RateLimitedError(text, retry_after=retry_after_seconds(headers), banned=banned)
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbolError(text)
    if isinstance(exc, ccxt.AuthenticationError):
        return ConfigError(f"{instance}: the venue refused the credentials ({type(exc).__name__})")
    if isinstance(exc, ccxt.NotSupported):
        return NotSupportedError(text)
    if isinstance(exc, ccxt.BadResponse | ccxt.NullResponse | ValueError | KeyError | TypeError):
        return BadResponseError(text)
    if isinstance(exc, ccxt.NetworkError | ccxt.ExchangeNotAvailable | ccxt.RequestTimeout):
        return TransientError(text)
    if isinstance(exc, ccxt.ExchangeError):
        return BadResponseError(text)
    return TransientError(text)


@contextmanager
def ccxt_errors(
    instance: str, response: Callable[[], tuple[int | None, Mapping[str, str] | None]] = lambda: (None, None)
) -> Iterator[None]:
    """Translate every ccxt (and parse) error raised inside the block.

    ``response`` returns the status and headers of the last HTTP response, read only on failure.
    """
    try:
        yield
    except QuotewireError:
        raise
    except (ccxt.BaseError, ValueError, KeyError, TypeError) as exc:
        status, headers = response()
        raise translate_ccxt_error(exc, instance=instance, status=status, headers=headers) from exc
