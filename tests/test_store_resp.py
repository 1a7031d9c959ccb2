"""The store's RESP packing, C and Python alike (the transactions on a real Redis: test_store_link)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.store.resp import NATIVE, Arg, pack_commands_python

Packer = Callable[[Sequence[Sequence[Arg]]], bytes]
PACKERS: list[Packer] = [p for p in (NATIVE, pack_commands_python) if p is not None]


def test_the_native_packer_is_built() -> None:
    """The C packer is built by the install on any machine with a compiler (as CI's)."""
    assert NATIVE is not None


_ARGS = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20),  # any Unicode: sent as UTF-8
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
_COMMANDS = st.lists(st.lists(_ARGS, min_size=1, max_size=8).map(tuple), max_size=6)


def as_sent(arg: Arg) -> bytes:
    return arg if isinstance(arg, bytes) else str(arg).encode()


@given(commands=_COMMANDS)
def test_both_packers_write_the_same_resp_that_a_resp_reader_reads_back(
    commands: list[tuple[Arg, ...]],
) -> None:
    packed = [packer(commands) for packer in PACKERS]
    assert all(p == packed[0] for p in packed)
    reader = hiredis.Reader()
    reader.feed(packed[0])
    for command in commands:  # a request is an array of bulk strings, as a reply would be
        assert reader.gets() == [as_sent(arg) for arg in command]
    assert reader.gets() is False  # nothing left over


@pytest.mark.parametrize("packer", PACKERS)
@pytest.mark.parametrize("bad", [1.5, None, True, bytearray(b"x"), 2**64])
def test_an_argument_of_another_type_is_refused(packer: Packer, bad: Any) -> None:
    with pytest.raises((TypeError, OverflowError)):
        packer([("SET", "k", bad)])


@pytest.mark.parametrize("packer", PACKERS)
def test_a_command_needs_its_name(packer: Packer) -> None:
    with pytest.raises(ValueError, match="name"):
        packer([()])
