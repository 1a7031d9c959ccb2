"""Exact decimals for prices and amounts.

A value the exchange sent as ``"0.00001230"`` is kept as ``Decimal("0.00001230")`` and written back as
exactly that text. Floats are refused: a float has already lost the exchange's digits.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

MAX_MAGNITUDE = 100
"""Digits a value may have before the point (``adjusted() < 100``) and after it (100 places at most).

Text in exponent notation is short, but its plain text is not: ``"1E+999999999"`` is one billion
digits once written as the store writes decimals. A value beyond these bounds (far beyond any price or
amount, and beyond the ~34 significant digits of values the engine computes from them) is refused
like any malformed value, so one corrupt frame cannot exhaust memory."""


def check_magnitude(value: Decimal) -> Decimal:
    """``value`` when its plain text stays within :data:`MAX_MAGNITUDE` digits each side of the
    point; else ``ValueError``."""
    exponent = value.as_tuple().exponent
    if value.adjusted() >= MAX_MAGNITUDE or (isinstance(exponent, int) and exponent < -MAX_MAGNITUDE):
        raise ValueError(f"decimal out of range (more than {MAX_MAGNITUDE} digits each side): {value:.3e}")
    return value


def to_decimal(value: Any) -> Decimal:
    """Convert an exchange value (``str``, ``int`` or ``Decimal``) to a finite ``Decimal``.

    Raises ``ValueError`` for floats, booleans, non-numeric text, non-finite values and values beyond
    :data:`MAX_MAGNITUDE`.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    else:
        raise ValueError(f"decimals must be given as str, int or Decimal, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"decimal must be finite: {value!r}")
    return check_magnitude(result)


def exact(value: Any) -> Decimal:
    """:func:`to_decimal` with a fast path for the common case, exchange text of a finite number."""
    if type(value) is str:
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
        if result.is_finite():
            # plain text no longer than the bound cannot exceed it; other text is checked
            if len(value) <= MAX_MAGNITUDE and "E" not in value and "e" not in value:
                return result
            return check_magnitude(result)
    return to_decimal(value)


def format_decimal(value: Decimal) -> str:
    """Render a ``Decimal`` as plain positional text, keeping every digit (no exponent)."""
    return format(value, "f")


ExactDecimal = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    PlainSerializer(format_decimal, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["0.00001230"]}),
]
"""A ``Decimal`` field that accepts exchange text, refuses floats and serializes to exact text."""
