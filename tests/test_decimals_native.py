"""The C table of Decimals (``core/_decimals.c``): the same values and texts as the Python code."""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.decimals import NATIVE_TEXT, exact, format_decimal, to_decimal
from core.store.codec import _decimal_text

_decimals = pytest.importorskip("core._decimals", reason="the C extension was not built")

CANONICAL = st.from_regex(r"-?(0|[1-9][0-9]{0,12})(\.[0-9]{1,18})?", fullmatch=True)
OTHER = ["007", "00.5", "1e5", "1E-8", " 1", "1 ", "+1", "1.", ".5", "-", "", "--1", "1.2.3", "١٢",
         "NaN", "Infinity", "-0x1", "1_000", "9" * 33, "0." + "0" * 31]  # fmt: skip


def test_the_native_table_is_built() -> None:
    """Built by the install on any machine with a compiler (as CI's)."""
    assert NATIVE_TEXT is not None


@given(CANONICAL)
def test_canonical_text_gives_the_decimal_and_back_the_same_text(text: str) -> None:
    value = _decimals.exact_text(text)
    assert value is not None and type(value) is Decimal
    assert value.as_tuple() == Decimal(text).as_tuple()
    assert _decimals.decimal_text(value) == format_decimal(Decimal(text)) == text
    assert exact(text).as_tuple() == Decimal(text).as_tuple()


@pytest.mark.parametrize("text", OTHER)
def test_other_text_is_left_to_python(text: str) -> None:
    assert _decimals.exact_text(text) is None
    try:
        expected: Decimal | str = to_decimal(text)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: Decimal | str = exact(text)
    except ValueError as exc:
        got = str(exc)
    assert got == expected and type(got) is type(expected)


def test_a_text_shares_one_decimal_while_it_stays_in_the_table() -> None:
    assert _decimals.exact_text("43519.34000000") is _decimals.exact_text("43519.34000000")


def test_more_texts_than_slots_stay_exact() -> None:
    """Slots are replaced as texts collide: every answer stays the text's own Decimal and text."""
    texts = [f"{i}.{i % 97:02d}" for i in range(100_000)]
    values = [_decimals.exact_text(t) for t in texts]
    for text, value in zip(texts, values, strict=True):
        assert value is not None and value.as_tuple() == Decimal(text).as_tuple()
        assert _decimals.decimal_text(value) == text


FORMATTED = [Decimal("1E-8"), Decimal("1.230E-7"), Decimal("1E+2"), Decimal("-0"), Decimal(3) / Decimal(7),
             Decimal("0.00001230"), Decimal("123456789012345678901234567890.5")]  # fmt: skip


@pytest.mark.parametrize("value", FORMATTED)
def test_decimals_not_from_the_table_are_formatted(value: Decimal) -> None:
    assert _decimals.decimal_text(value) == format_decimal(value) == _decimal_text(value)


@pytest.mark.parametrize("value", [1.5, 1, "1", None, True])
def test_decimal_text_refuses_what_is_not_a_decimal(value: object) -> None:
    with pytest.raises(TypeError, match="cannot encode"):
        _decimals.decimal_text(value)


def test_the_table_keeps_no_reference_once_cleared() -> None:
    text = "".join(["12345", ".", "678"])  # a fresh str object
    before = sys.getrefcount(text)
    value = _decimals.exact_text(text)
    assert sys.getrefcount(text) > before  # held by the table
    del value
    _decimals.clear()
    assert sys.getrefcount(text) == before
