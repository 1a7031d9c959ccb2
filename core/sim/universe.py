"""The simulated symbol universe: real assets first, then synthetic ones, with per-market rules.

Markets are ordered by importance so that the default 50 already holds currency triangles
(BTC/USDT, ETH/USDT, ETH/BTC, BNB/BTC, BNB/ETH, BNB/USDT, …). Each asset has a USD value (in units
of ``10**-12`` USD); a market's price is ``usd(base) / usd(quote)``, so cross rates are consistent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from core.sim.units import UNIT, decimals_of

USD_SCALE: int = 10**12
"""Asset values are ints counting ``10**-12`` USD."""
MIN_PRICE_UNITS = 500
"""Markets priced below 0.000005 of the quote asset are not listed (too few ticks per price)."""

# (asset, approximate USD value) — real Binance spot assets, most traded first.
REAL_ASSETS: tuple[tuple[str, str], ...] = (
    ("BTC", "65000"),
    ("ETH", "3500"),
    ("BNB", "600"),
    ("SOL", "150"),
    ("XRP", "0.6"),
    ("DOGE", "0.15"),
    ("ADA", "0.45"),
    ("TRX", "0.12"),
    ("AVAX", "35"),
    ("LINK", "15"),
    ("DOT", "7"),
    ("LTC", "80"),
    ("BCH", "450"),
    ("SHIB", "0.00002"),
    ("UNI", "8"),
    ("ATOM", "9"),
    ("ETC", "25"),
    ("XLM", "0.11"),
    ("NEAR", "5"),
    ("APT", "9"),
    ("FIL", "6"),
    ("ARB", "1.1"),
    ("OP", "2.5"),
    ("ICP", "12"),
    ("HBAR", "0.08"),
    ("VET", "0.03"),
    ("INJ", "25"),
    ("SUI", "1.2"),
    ("AAVE", "100"),
    ("ALGO", "0.18"),
    ("GRT", "0.25"),
    ("SAND", "0.45"),
    ("MANA", "0.45"),
    ("AXS", "7"),
    ("EGLD", "40"),
    ("THETA", "1.5"),
    ("FTM", "0.7"),
    ("EOS", "0.8"),
    ("XTZ", "1"),
    ("CHZ", "0.1"),
    ("CRV", "0.5"),
    ("PEPE", "0.00001"),
    ("NKN", "0.1"),
    ("RUNE", "5"),
    ("MKR", "2500"),
    ("SNX", "3"),
    ("COMP", "60"),
    ("ZEC", "30"),
    ("DASH", "30"),
    ("NEO", "15"),
    ("KAVA", "0.7"),
    ("IOTA", "0.25"),
    ("ZIL", "0.02"),
    ("ENJ", "0.3"),
    ("BAT", "0.25"),
    ("1INCH", "0.4"),
    ("QTUM", "3"),
    ("WAVES", "2"),
    ("ONE", "0.02"),
    ("ROSE", "0.1"),
)
# Quote assets in order of preference and their minimum order notional (in the quote asset).
QUOTES: tuple[tuple[str, str], ...] = (
    ("USDT", "5"),
    ("BTC", "0.0001"),
    ("ETH", "0.001"),
    ("BNB", "0.01"),
    ("FDUSD", "5"),
    ("USDC", "5"),
    ("TRY", "100"),
    ("EUR", "5"),
)
QUOTE_VALUES: dict[str, str] = {"USDT": "1", "FDUSD": "1", "USDC": "1", "TRY": "0.031", "EUR": "1.08"}
STABLE = frozenset({"USDT", "FDUSD", "USDC"})
CORE_MARKETS: tuple[tuple[str, str], ...] = (
    ("BTC", "USDT"),
    ("ETH", "USDT"),
    ("BNB", "USDT"),
    ("ETH", "BTC"),
    ("BNB", "BTC"),
    ("BNB", "ETH"),
)


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """The static rules of one market (all money fields in engine units, see :mod:`core.sim.units`)."""

    base: str
    quote: str
    status: str  # "TRADING" or "BREAK"
    tick: int  # price tick size
    step: int  # quantity step size
    min_qty: int
    max_qty: int
    min_price: int
    max_price: int
    min_notional: int  # in quote units
    activity: float  # relative share of the market's events (a model weight, not an amount)

    @property
    def symbol(self) -> str:
        """The venue-neutral id, ``BASEQUOTE`` (front-ends respell it: ``btcusdt``, ``BTC-USDT``)."""
        return self.base + self.quote

    @property
    def unified(self) -> str:
        """``BASE/QUOTE``."""
        return f"{self.base}/{self.quote}"

    @property
    def price_precision(self) -> int:
        """Decimal places of the tick size."""
        return decimals_of(self.tick)

    @property
    def qty_precision(self) -> int:
        """Decimal places of the step size."""
        return decimals_of(self.step)

    @property
    def trading(self) -> bool:
        """True when the market is open for trading."""
        return self.status == "TRADING"


def _usd(text: str) -> int:
    return int(Decimal(text) * USD_SCALE)


def _synthetic_name(index: int) -> str:
    """``0 -> "SYNAA"``, ``1 -> "SYNAB"`` … unique, letters only, never a real ticker."""
    letters = ""
    value = index
    for _ in range(3):
        value, rem = divmod(value, 26)
        letters = chr(65 + rem) + letters
    return "SYN" + letters


def asset_values(count: int, rng: random.Random) -> dict[str, int]:
    """USD values of the real assets plus enough synthetic ones to list ``count`` markets."""
    values = {name: _usd(usd) for name, usd in REAL_ASSETS}
    values.update({name: _usd(usd) for name, usd in QUOTE_VALUES.items()})
    needed = count // 2 + 10  # more than enough: each synthetic asset lists against USDT and BTC
    for i in range(needed):
        # log-uniform between 0.0001 and 1000 USD, as an exact int
        exponent = rng.randint(-4, 2)
        mantissa = rng.randint(100, 999)
        values[_synthetic_name(i)] = mantissa * USD_SCALE * 10 ** (exponent + 4) // 1_000_000
    return values


def _pairs(values: dict[str, int], count: int) -> list[tuple[str, str]]:
    """Candidate (base, quote) pairs in order of importance."""
    real = [name for name, _ in REAL_ASSETS]
    synthetic = [name for name in values if name.startswith("SYN")]
    ordered: list[tuple[str, str]] = list(CORE_MARKETS)
    # tier 1: every real asset against USDT, the top ones also against BTC, ETH and BNB
    for rank, asset in enumerate(real):
        ordered.append((asset, "USDT"))
        if rank < 16:
            ordered.append((asset, "BTC"))
        if rank < 6:
            ordered.extend([(asset, "ETH"), (asset, "BNB")])
    # tier 2: the remaining real combinations
    for quote, _ in QUOTES:
        ordered.extend((asset, quote) for asset in real)
    # tier 3: synthetic assets against USDT and BTC
    for asset in synthetic:
        ordered.extend([(asset, "USDT"), (asset, "BTC")])
    seen: set[tuple[str, str]] = set()
    unique: list[tuple[str, str]] = []
    for base, quote in ordered:
        if base == quote or (base, quote) in seen or (quote, base) in seen:
            continue
        if base in QUOTE_VALUES and quote not in STABLE:
            continue
        if values[base] * UNIT // values[quote] < MIN_PRICE_UNITS:
            continue  # the price would have too few significant digits on an 8-decimal grid
        seen.add((base, quote))
        unique.append((base, quote))
        if len(unique) == count:
            break
    return unique


def _pow10_at_most(value: int) -> int:
    power = 1
    while power * 10 <= value:
        power *= 10
    return power


def build_universe(count: int, rng: random.Random) -> tuple[list[MarketSpec], dict[str, int]]:
    """``count`` market specs and the USD values of their assets, deterministic for ``rng``'s seed."""
    if count < 1:
        raise ValueError("the universe needs at least one market")
    values = asset_values(count, rng)
    min_notional = {quote: int(Decimal(text) * UNIT) for quote, text in QUOTES}
    specs: list[MarketSpec] = []
    for index, (base, quote) in enumerate(_pairs(values, count)):
        price = values[base] * UNIT // values[quote]
        tick = max(1, _pow10_at_most(max(price, 1)) // 100_000)
        # a step worth about 0.01-0.1 USD, between 10**-8 and one whole coin
        step_value = values[base] * 100 // USD_SCALE  # cents per whole coin
        step = max(1, min(UNIT, UNIT // max(1, _pow10_at_most(max(step_value, 1)))))
        status = "BREAK" if index >= len(CORE_MARKETS) and rng.random() < 0.03 else "TRADING"
        specs.append(
            MarketSpec(
                base=base,
                quote=quote,
                status=status,
                tick=tick,
                step=step,
                min_qty=step,
                max_qty=9_000_000 * UNIT,
                min_price=tick,
                max_price=max(price * 1000, tick * 1000),
                min_notional=min_notional.get(quote, 5 * UNIT),
                activity=1.0 / (1 + index) ** 0.8,
            )
        )
    return specs, values
