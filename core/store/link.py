"""The store writer's own Redis connection on the event loop: a packed transaction out, its replies in.

The writer sends one MULTI/EXEC a flush (:mod:`core.store.resp` packs it in C). Here that payload is
written to an asyncio transport and hiredis parses the replies as they arrive, and the callback given
to :meth:`RedisLink.send` runs in the very callback that read the last reply: a writer busy behind a
loaded event loop starts its next flush there, without waiting for a turn of the loop. (The writer
ran the transaction on a thread of its own before, which needed the GIL back after every socket
call, and the flush coroutine then waited for its turn behind the stream readers.)

Errors are redis-py's, so :func:`~core.store.redis_errors.translate_redis_errors` maps them: a
refused command is a ``ResponseError``; a connection that cannot be made, breaks or sends garbage is a
``ConnectionError``; no answer within the reply timeout is a ``TimeoutError``. After any of them but a
refusal the link is closed, as its unread replies would be taken for the next request's. Messages
name the address, never the password.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Sequence
from typing import Any, cast

import hiredis
import redis.connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.store.resp import Command, pack_commands, pack_transaction

Outcome = list[Any] | Exception
"""A request's replies, or why it failed."""
OnDone = Callable[[Outcome], None]


class RedisLink(asyncio.Protocol):
    """One connection, one request at a time; a request's replies come within ``reply_timeout`` s."""

    def __init__(self, where: str, reply_timeout: float) -> None:
        self.where = where
        self.reply_timeout = reply_timeout
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader(replyError=ResponseError)
        self._replies: list[Any] = []
        self._expected = 0
        self._check: Callable[[list[Any]], Outcome] = _first_refusal
        self._on_done: OnDone | None = None
        self._deadline: asyncio.TimerHandle | None = None

    @classmethod
    async def open(cls, url: str, *, connect_within: float = 2.0, reply_within: float = 5.0) -> RedisLink:
        """Connect to the Redis of ``url`` (``redis://``, ``rediss://`` or ``unix://``), then
        authenticate and select its database as the URL says. A ``rediss://`` URL's ``ssl_*``
        options are read as redis-py reads them (:func:`tls_context`)."""
        options: dict[str, Any] = redis.connection.parse_url(url)  # type: ignore[no-untyped-call,unused-ignore]
        path = options.get("path")
        host, port = options.get("host", "localhost"), options.get("port", 6379)
        where = f"unix:{path}" if path else f"{host}:{port}"
        loop = asyncio.get_running_loop()
        link = cls(where, reply_within)
        try:
            tls = tls_context(options) if url.startswith("rediss://") else None
        except (OSError, ValueError) as exc:
            raise RedisConnectionError(f"cannot set up TLS to {where}: {exc}") from None
        try:
            async with asyncio.timeout(connect_within):
                if path:
                    await loop.create_unix_connection(lambda: link, path)
                else:
                    await loop.create_connection(lambda: link, host, port, ssl=tls)
        except ssl.SSLCertVerificationError as exc:
            raise RedisConnectionError(f"cannot connect to {where}: TLS: {exc.verify_message}") from None
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to {where}: {type(exc).__name__}") from None
        setup: list[Command] = []
        if options.get("password") is not None:
            user = (options["username"],) if options.get("username") else ()
            setup.append(("AUTH", *user, options["password"]))
        if options.get("db"):
            setup.append(("SELECT", int(options["db"])))
        if setup:
            try:
                await link.call(setup)
            except ResponseError as exc:
                link.close()
                raise RedisConnectionError(f"{where} refused the connection's set-up: {exc}") from None
        return link

    # ---- requests -------------------------------------------------------------------------------
    def send(self, commands: Sequence[Command], on_done: OnDone) -> None:
        """Send ``commands`` as one MULTI/EXEC and return; ``on_done`` gets their replies, or the
        error, from the callback that read the last reply (or saw the connection fail).

        A command refused when queued fails the request: nothing ran. One refused when run is a
        ``ResponseError`` in the replies, in its place: the others took effect (Redis does not roll
        a transaction back), so the caller must not send them again.
        """
        self._submit(pack_transaction(commands), len(commands) + 2, _ran, on_done)

    async def transaction(self, commands: Sequence[Command]) -> list[Any]:
        """:meth:`send`, awaited: the replies, or the first refusal raised (queued or run; as a
        redis-py pipeline does)."""
        return await self._awaited(pack_transaction(commands), len(commands) + 2, _executed)

    async def call(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` one after the other (no transaction); return their replies, raising the
        first refusal."""
        return await self._awaited(pack_commands(commands), len(commands), _first_refusal)

    async def _awaited(
        self, payload: bytes, expected: int, check: Callable[[list[Any]], Outcome]
    ) -> list[Any]:
        done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()

        def settle(outcome: Outcome) -> None:
            if done.done():
                return
            if isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

        self._submit(payload, expected, check, settle)
        try:
            return await done
        except asyncio.CancelledError:
            self.close()  # replies still to come would be read as the next request's
            raise

    def _submit(
        self, payload: bytes, expected: int, check: Callable[[list[Any]], Outcome], on_done: OnDone
    ) -> None:
        if self._on_done is not None:
            raise RuntimeError("a RedisLink runs one request at a time")
        if self.closed:
            on_done(RedisConnectionError(f"the connection to {self.where} is closed"))
            return
        assert self._transport is not None
        self._on_done, self._expected, self._check, self._replies = on_done, expected, check, []
        self._deadline = asyncio.get_running_loop().call_later(self.reply_timeout, self._timed_out)
        self._transport.write(payload)

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    def close(self, reason: Exception | None = None) -> None:
        """Close the connection at once (unsent data is dropped); a request under way fails, with
        ``reason`` if given. (Closed first: its callback may send the next request, which must find
        the link closed, not be cut by this.)"""
        if self._transport is not None:
            self._transport.abort()
        self._settle(reason or RedisConnectionError(f"the connection to {self.where} was closed"))

    def _timed_out(self) -> None:
        self._deadline = None
        self.close(RedisTimeoutError(f"no answer from {self.where} within {self.reply_timeout:g} s"))

    def _settle(self, outcome: Outcome) -> None:
        on_done = self._on_done
        if on_done is None:
            return
        self._on_done = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        on_done(outcome)

    # ---- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        reader, replies = self._reader, self._replies
        try:
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                replies.append(reply)
        except hiredis.ProtocolError as exc:
            self.close(RedisConnectionError(f"{self.where} sent what is not RESP: {exc}"))
            return
        if self._on_done is None:
            if replies:  # nothing was asked: the stream is out of step with the requests
                self.close()
            return
        if len(replies) >= self._expected:
            self._settle(self._check(replies))

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {type(exc).__name__}" if exc is not None else ""
        self._settle(RedisConnectionError(f"the connection to {self.where} was lost{reason}"))


_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def tls_context(options: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context of a ``rediss://`` URL's options (as ``redis.connection.parse_url`` gives
    them): ``ssl_ca_certs`` / ``ssl_ca_path`` (whom to trust; the system's by default),
    ``ssl_cert_reqs`` (``none``, ``optional`` or ``required``, the default), ``ssl_check_hostname``
    (true by default; off when certificates are not required), and a client certificate
    ``ssl_certfile`` / ``ssl_keyfile`` (``ssl_password`` if the key is encrypted)."""
    reqs = options.get("ssl_cert_reqs", "required")
    mode = _CERT_REQS.get(reqs.lower()) if isinstance(reqs, str) else reqs
    if not isinstance(mode, ssl.VerifyMode):
        raise ValueError(f"ssl_cert_reqs must be none, optional or required, not {reqs!r}")
    get = options.get
    context = ssl.create_default_context(cafile=get("ssl_ca_certs"), capath=get("ssl_ca_path"))
    check = get("ssl_check_hostname", True) not in (False, "false", "False", "0", "no")
    context.check_hostname = check and mode != ssl.CERT_NONE
    context.verify_mode = mode
    certfile = get("ssl_certfile")
    if certfile:
        context.load_cert_chain(certfile, get("ssl_keyfile"), get("ssl_password"))
    return context


def _first_refusal(replies: list[Any]) -> Outcome:
    """``replies``, or the first refusal among them."""
    for reply in replies:
        if isinstance(reply, ResponseError):
            return reply
    return replies


def _ran(replies: list[Any]) -> Outcome:
    """The replies of a MULTI/EXEC's commands (``+OK``, ``+QUEUED`` each, then EXEC's array), a
    command refused when run in its place; or the refusal that kept the transaction from running."""
    queued = _first_refusal(replies[:-1])
    if isinstance(queued, Exception):
        return queued  # EXEC then answered EXECABORT: nothing ran
    executed = replies[-1]
    if isinstance(executed, ResponseError):
        return executed  # e.g. OOM: EXEC refused as a whole
    if not isinstance(executed, list):  # EXEC answers an array (nil only when a WATCH failed)
        return ResponseError(f"EXEC answered {executed!r}")
    return executed


def _executed(replies: list[Any]) -> Outcome:
    """:func:`_ran`, a command refused when run failing the whole."""
    outcome = _ran(replies)
    return outcome if isinstance(outcome, Exception) else _first_refusal(outcome)
