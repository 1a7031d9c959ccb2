"""Fixed-point units of the simulated market.

Every price and amount inside the engine is an ``int`` counting ``10**-8`` of its asset (Binance's
eight decimal places), so the engine never rounds a float and a front-end renders a value with
:func:`fmt` (``123456789 -> "1.23456789"``) or :func:`to_decimal` without losing a digit.
"""

from __future__ import annotations

from decimal import Decimal

DECIMALS = 8
UNIT: int = 10**DECIMALS
"""One whole coin in engine units."""


def fmt(units: int, decimals: int = DECIMALS) -> str:
    """Render engine units as plain text with ``decimals`` places (8 = Binance's spot format).

    The hottest call of a venue's fan-out, so it is plain integer work: an ``lru_cache`` here (of
    2**17 values) spent ~20% of the firehose venue's CPU in its own dict lookups (``perf``), its
    table far larger than the CPU's caches.
    """
    if units < 0:
        return "-" + fmt(-units, decimals)
    whole, frac = divmod(units, UNIT)
    text = str(whole) + "." + str(UNIT + frac)[1:]  # the fraction zero-padded to 8 digits
    if decimals == DECIMALS:
        return text
    if decimals <= 0:
        return str(whole)
    return text[: len(text) - DECIMALS + decimals]


def fmt_trim(units: int) -> str:
    """Render engine units with trailing zeros dropped (``150000000 -> "1.5"``)."""
    text = fmt(units).rstrip("0")
    return text[:-1] if text.endswith(".") else text


def to_decimal(units: int) -> Decimal:
    """The exact :class:`~decimal.Decimal` of engine units."""
    return Decimal(units).scaleb(-DECIMALS)


def from_text(text: str) -> int:
    """Parse decimal text into engine units; raises ``ValueError`` for more than 8 places."""
    value = Decimal(text) * UNIT
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} has more than {DECIMALS} decimal places")
    return int(value)


def decimals_of(units: int) -> int:
    """Decimal places a step of ``units`` needs (``1000 -> 5`` for 0.00001)."""
    places = DECIMALS
    while places > 0 and units % 10 == 0:
        units //= 10
        places -= 1
    return places
