"""The store's Redis transactions: commands packed into RESP at once, run as one MULTI/EXEC.

A flush sends one transaction of ~20 commands carrying ~1,000 arguments (keys, JSON documents,
scores). Through a redis-py pipeline every argument passes a Python generator and hiredis's
formatter: that was about two thirds of the writer thread's CPU. Here the whole transaction is
packed by one call, sent with one write and its replies read from the same connection.

:func:`pack_commands` is the C implementation (``core/store/_resp.c``, an optional extension built
at install) when it is there, else :func:`pack_commands_python`; both give the same bytes. An
argument is ``bytes``, ``str`` (sent as UTF-8) or a 64-bit ``int``; anything else is a ``TypeError``
(or an ``OverflowError``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.connection import ConnectionInterface
from redis.exceptions import ResponseError

Arg = bytes | str | int
Command = tuple[Arg, ...]


def pack_commands_python(commands: Sequence[Sequence[Arg]]) -> bytes:
    """``commands`` in the RESP protocol, one after the other (the reference of the C packer)."""
    out: list[bytes] = []
    for command in commands:
        if not command:
            raise ValueError("a command needs at least its name")
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, bytes):
                data = arg
            elif isinstance(arg, str):
                data = arg.encode()
            elif type(arg) is int:
                if not -(2**63) <= arg < 2**63:
                    raise OverflowError("an integer argument beyond 64 bits")
                data = b"%d" % arg
            else:
                raise TypeError(f"a command argument must be bytes, str or int, not {type(arg).__name__}")
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _native() -> Callable[[Sequence[Sequence[Arg]]], bytes] | None:
    try:
        from core.store._resp import pack_commands as native
    except ImportError:
        return None
    return native


NATIVE = _native()
"""The C packer, or ``None`` when the extension was not built (no compiler at install)."""

pack_commands: Callable[[Sequence[Sequence[Arg]]], bytes] = NATIVE or pack_commands_python


def pack_transaction(commands: Sequence[Command]) -> bytes:
    """``commands`` between ``MULTI`` and ``EXEC``, packed."""
    return pack_commands([("MULTI",), *commands, ("EXEC",)])


def run_transaction(connection: ConnectionInterface, commands: Sequence[Command]) -> list[Any]:
    """Run ``commands`` as one MULTI/EXEC on ``connection``; return their replies.

    Raises what redis-py raises: ``ConnectionError``/``TimeoutError`` when Redis cannot be reached,
    ``ResponseError`` when a command is refused (when queued, or when run: then the commands before
    it took effect, as with a redis-py pipeline). After any error the connection is closed, as its
    unread replies would be taken for the next transaction's; it reconnects on the next send.
    """
    payload = pack_transaction(commands)
    try:
        connection.send_packed_command([payload], check_health=False)  # type: ignore[no-untyped-call,unused-ignore]
        for _ in range(len(commands) + 1):  # +OK, then +QUEUED each (or the refusal, raised)
            connection.read_response()
        replies = connection.read_response()
    except BaseException:
        connection.disconnect()  # type: ignore[no-untyped-call,unused-ignore]
        raise
    if not isinstance(replies, list):  # EXEC answers an array (nil only when a WATCH failed)
        raise ResponseError(f"EXEC answered {replies!r}")
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies
