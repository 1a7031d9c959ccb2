"""The store's Redis transactions: commands packed into RESP at once, run as one MULTI/EXEC.

A flush sends one transaction of ~20 commands carrying ~1,000 arguments (keys, JSON documents,
scores). Through a redis-py pipeline every argument passes a Python generator and hiredis's
formatter: that was about two thirds of the store writer's CPU per flush. Here the whole transaction is
packed by one call; :class:`~core.store.link.RedisLink` sends it with one write and reads its replies.

:func:`pack_commands` is the C implementation (``core/store/_resp.c``, an optional extension built
at install) when it is there, else :func:`pack_commands_python`; both give the same bytes. An
argument is ``bytes``, ``str`` (sent as UTF-8) or a 64-bit ``int``; anything else is a ``TypeError``
(or an ``OverflowError``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
