"""Stub of the C extension ``core/store/_resp.c`` (see :mod:`core.store.resp`)."""

from collections.abc import Sequence

def pack_commands(commands: Sequence[Sequence[bytes | str | int]], /) -> bytes: ...
