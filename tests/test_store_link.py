"""The store writer's Redis link: transactions on a real Redis, and every way a connection fails."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.store.link import RedisLink
from tests.support.redis_server import RedisServer, free_port


@pytest.fixture
async def link(redis_url: str) -> AsyncIterator[RedisLink]:
    link = await RedisLink.open(redis_url)
    yield link
    link.close()


async def test_a_transaction_returns_every_reply(link: RedisLink) -> None:
    replies = await link.transaction(
        [("SET", "k", b"1", "EX", 100, "GET"), ("MSET", "a", b"x", "b", b"y"), ("HINCRBY", "h", "n", 5)]
    )
    assert replies == [None, b"OK", 5]  # raw replies: the writer reads only the first
    assert await link.transaction([("SET", "k", b"2", "EX", 100, "GET")]) == [b"1"]


async def test_the_url_selects_the_database(redis_server: RedisServer, redis_url: str) -> None:
    link = await RedisLink.open(redis_server.url(7))
    try:
        await link.transaction([("SET", "only-in-7", b"1")])
    finally:
        link.close()
    assert redis.Redis.from_url(redis_server.url(7)).get("only-in-7") == b"1"
    assert redis.Redis.from_url(redis_url).get("only-in-7") is None


def test_the_collectors_event_loop_runs_it_too(redis_url: str) -> None:
    """The collector runs on uvloop (whose transports are not asyncio's classes)."""
    uvloop = pytest.importorskip("uvloop")

    async def run() -> list[Any]:
        link = await RedisLink.open(redis_url)
        try:
            return await link.transaction([("SET", "on-uvloop", b"1"), ("GET", "on-uvloop")])
        finally:
            link.close()

    assert uvloop.run(run()) == [b"OK", b"1"]


async def test_a_refused_command_raises_and_the_link_serves_the_next_one(link: RedisLink) -> None:
    with pytest.raises(ResponseError):  # refused when queued: nothing of the transaction ran
        await link.transaction([("SET", "a", b"1"), ("NOSUCHCOMMAND", "x")])
    with pytest.raises(ResponseError):  # refused when run: the commands before it took effect
        await link.transaction([("SET", "b", b"1"), ("HSET", "b", "f", b"v"), ("SET", "c", b"1")])
    assert not link.closed  # every reply was read: the connection is in step
    assert await link.transaction([("MGET", "a", "b", "c")]) == [[None, b"1", b"1"]]


async def test_send_gives_a_command_refused_when_run_in_its_place(link: RedisLink) -> None:
    """The writer must know which commands took effect: a refusal when run is in the replies, the
    others ran; a refusal when queued still fails the request, nothing having run."""
    outcomes: list[Any] = []
    done = asyncio.Event()

    def then(outcome: Any) -> None:
        outcomes.append(outcome)
        done.set()

    link.send([("SET", "b", b"1"), ("HSET", "b", "f", b"v"), ("SET", "c", b"1")], then)
    await asyncio.wait_for(done.wait(), 5)
    assert outcomes[0][0] == b"OK" and outcomes[0][2] == b"OK"
    assert isinstance(outcomes[0][1], ResponseError) and "WRONGTYPE" in str(outcomes[0][1])
    done.clear()
    link.send([("SET", "d", b"1"), ("NOSUCHCOMMAND", "x")], then)
    await asyncio.wait_for(done.wait(), 5)
    assert isinstance(outcomes[1], ResponseError)
    assert await link.transaction([("MGET", "b", "c", "d")]) == [[b"1", b"1", None]]


async def test_a_user_and_password_authenticate_and_never_show_in_errors(
    redis_server: RedisServer, redis_url: str
) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.acl_setuser(
        "qw-writer", enabled=True, passwords=["+s3cret-pw"], keys=["*"], channels=["*"], commands=["+@all"]
    )
    try:
        link = await RedisLink.open(f"redis://qw-writer:s3cret-pw@127.0.0.1:{redis_server.port}/2")
        assert await link.call([("ACL", "WHOAMI")]) == [b"qw-writer"]
        link.close()
        with pytest.raises(RedisConnectionError) as refused:
            await RedisLink.open(f"redis://qw-writer:wrong-pw@127.0.0.1:{redis_server.port}/2")
        assert "wrong-pw" not in str(refused.value) and refused.value.__cause__ is None
        assert f"127.0.0.1:{redis_server.port}" in str(refused.value)
    finally:
        admin.acl_deluser("qw-writer")


async def test_a_unix_socket_url_connects() -> None:
    server = RedisServer(unix_socket=True)
    server.start()
    try:
        link = await RedisLink.open(f"unix://{server.socket_path}?db=3")
        try:
            await link.transaction([("SET", "over-the-socket", b"1")])
        finally:
            link.close()
        assert redis.Redis.from_url(server.url(3)).get("over-the-socket") == b"1"
    finally:
        server.close()


@pytest.fixture(scope="module")
def tls_server() -> Iterator[RedisServer]:
    server = RedisServer(tls=True)
    server.start()
    yield server
    server.close()


async def test_a_rediss_url_reads_its_tls_options(tls_server: RedisServer) -> None:
    """``ssl_ca_certs`` trusts a private authority (the certificate and its IP are checked);
    ``ssl_cert_reqs=none`` trusts anyone; the writer's link and redis-py read the URL alike."""
    base = f"rediss://127.0.0.1:{tls_server.tls_port}/2"
    trusted = f"{base}?ssl_ca_certs={tls_server.ca_file}"
    link = await RedisLink.open(trusted)
    try:
        await link.transaction([("SET", "over-tls", b"1")])
    finally:
        link.close()
    reader = redis.Redis.from_url(trusted)
    try:
        assert reader.get("over-tls") == b"1"
    finally:
        reader.close()
    link = await RedisLink.open(f"{base}?ssl_cert_reqs=none")
    try:
        assert await link.call([("GET", "over-tls")]) == [b"1"]
    finally:
        link.close()


async def test_a_tls_server_not_trusted_is_a_clear_connection_error(tls_server: RedisServer) -> None:
    base = f"rediss://:pw-never-shown@127.0.0.1:{tls_server.tls_port}/2"
    with pytest.raises(RedisConnectionError, match=r"TLS: .*certificate") as untrusted:
        await RedisLink.open(base)  # the system's authorities do not know the test one
    assert "pw-never-shown" not in str(untrusted.value)
    with pytest.raises(RedisConnectionError, match="ssl_cert_reqs must be"):
        await RedisLink.open(f"{base}?ssl_cert_reqs=sometimes")
    with pytest.raises(RedisConnectionError, match="cannot set up TLS"):
        await RedisLink.open(f"{base}?ssl_ca_certs=/nonexistent/ca.pem")


async def test_nothing_listening_is_a_connection_error() -> None:
    port = free_port()
    with pytest.raises(RedisConnectionError, match=f"127.0.0.1:{port}"):
        await RedisLink.open(f"redis://:pw-never-shown@127.0.0.1:{port}/2")


async def test_a_server_that_dies_mid_run_fails_the_request_and_closes_the_link() -> None:
    server = RedisServer()
    server.start()
    try:
        link = await RedisLink.open(server.url(2))
        blocked = asyncio.create_task(link.call([("BLPOP", "never", 0)]))
        await asyncio.sleep(0.1)
        server.stop()
        with pytest.raises(RedisConnectionError, match="lost"):
            await asyncio.wait_for(blocked, 10)
        assert link.closed
        with pytest.raises(RedisConnectionError, match="closed"):
            await link.transaction([("SET", "k", b"1")])
    finally:
        server.close()


async def test_no_answer_in_time_is_a_timeout_and_closes_the_link(redis_url: str) -> None:
    link = await RedisLink.open(redis_url, reply_within=0.2)
    with pytest.raises(RedisTimeoutError, match=r"within 0\.2 s"):
        await link.call([("BLPOP", "never", 0)])
    assert link.closed  # the late reply must not be read as the next request's


async def test_a_cancelled_request_closes_the_link(link: RedisLink) -> None:
    request = asyncio.create_task(link.call([("BLPOP", "never", 0)]))
    await asyncio.sleep(0.05)
    request.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await request
    assert link.closed


async def test_garbage_instead_of_resp_is_a_connection_error() -> None:
    port = free_port()
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        link = await RedisLink.open(f"redis://127.0.0.1:{port}")
        with pytest.raises(RedisConnectionError, match="not RESP"):
            await link.transaction([("SET", "k", b"1")])
        assert link.closed
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_one_request_at_a_time(link: RedisLink) -> None:
    first = asyncio.create_task(link.call([("BLPOP", "never", "0.3")]))
    await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError, match="one request at a time"):
        await link.call([("PING",)])
    assert await first == [None]


async def test_a_request_sent_from_a_timed_out_ones_callback_finds_the_link_closed(redis_url: str) -> None:
    """The writer sends its next flush from the callback of the last one: after a timeout that
    request fails at once, the link being closed (the writer retries on a new one), instead of
    waiting on a connection whose replies are out of step."""
    admin = redis.Redis.from_url(redis_url)
    link = await RedisLink.open(redis_url, reply_within=0.2)
    outcomes: list[Any] = []
    both = asyncio.Event()

    def then(outcome: Any) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 1:
            link.send([("SET", "next", b"1")], then)
        else:
            both.set()

    admin.client_pause(1000, all=False)  # the transaction's EXEC waits: no answer in time
    try:
        link.send([("SET", "first", b"1")], then)
        await asyncio.wait_for(both.wait(), 5)
    finally:
        admin.client_unpause()
        admin.close()
    assert isinstance(outcomes[0], RedisTimeoutError)
    assert isinstance(outcomes[1], RedisConnectionError) and "closed" in str(outcomes[1])
