"""The one place where redis-py's exceptions become quotewire's :class:`~core.errors.StorageError`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions

from core.errors import StorageError


@contextmanager
def translate_redis_errors(action: str) -> Iterator[None]:
    """Re-raise any redis-py error raised inside the block as a :class:`StorageError`."""
    try:
        yield
    except (redis.exceptions.RedisError, OSError) as exc:
        raise storage_error(action, exc) from exc


def storage_error(action: str, exc: Exception) -> StorageError:
    """The :class:`StorageError` that says ``action`` failed because of ``exc`` (a redis-py error or
    a raw socket error), chained to it."""
    if isinstance(exc, redis.exceptions.RedisError):
        error = StorageError(f"redis: {action} failed: {type(exc).__name__}: {exc}")
    else:
        error = StorageError(f"redis: {action} failed: {exc}")
    error.__cause__ = exc
    return error
