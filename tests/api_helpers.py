"""Fixtures-in-functions shared by the API tests (and reusable by end-to-end tests)."""

from __future__ import annotations

from pydantic import SecretStr

from core.config import ApiConfig, AppConfig, RedisConfig


def api_config(
    redis_url: str,
    *,
    legacy_instance: str | None = None,
    api_keys: tuple[str, ...] = (),
    stale_after: float = 5.0,
) -> AppConfig:
    """An AppConfig that points the API at ``redis_url``."""
    return AppConfig(
        redis=RedisConfig(url=redis_url),
        api=ApiConfig(
            legacy_instance=legacy_instance,
            api_keys=[SecretStr(k) for k in api_keys],
            stale_after=stale_after,
        ),
    )
