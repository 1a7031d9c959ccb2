"""Shared fixtures: a private redis-server per test session, flushed between tests."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import RedisServer

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests that stop it must start it again."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of db 2 of the private server, empty at the start of each test.

    Garbage is collected as the test ends, so a Redis connection it left open warns (and fails)
    in that test, not in whichever later test the garbage collector happens to run in.
    """
    if not redis_server.running:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url(2))
    client.flushall()  # our own server: flushing it is ours to do
    client.close()
    yield redis_server.url(2)
    gc.collect()


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/fixtures``: real exchange payloads."""
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is not beside the checkout")
    return FIXTURES
