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
    except redis.exceptions.RedisError as exc:
        raise StorageError(f"redis: {action} failed: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:  # raw socket errors not wrapped by redis-py
        raise StorageError(f"redis: {action} failed: {exc}") from exc
