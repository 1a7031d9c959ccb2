"""Exact (``Decimal``) evaluation of one cycle against the books of its markets.

Semantics, shared by the incremental engine and the brute-force reference:

1. **Size.** Walk the book levels of all legs together, best first. While the *marginal* cycle —
   the current level of every leg, each paying the taker fee — still returns more than the
   threshold, take as much as the tightest current level allows (converted back to the start asset
   through the legs before it), then step that leg to its next level. Stop when the marginal
   return falls to the threshold or a leg runs out of levels. With only a quote per market this is
   the classic top-of-book size limit.
2. **Execute.** Trade that start amount leg by leg: a sell sells the held base rounded down to the
   lot size; a buy buys the largest lot-rounded base amount the held quote pays for. Every leg pays
   the taker fee on what it receives, must trade a positive amount, at least the market's minimum
   amount and minimum notional (price x amount), or the cycle is not executable. Lot-rounding dust
   left in an intermediate asset is counted as lost.
3. **Returns.** ``net = final / start_used - 1``; ``gross`` is the product of the legs' size-weighted
   price ratios minus one. Both are at most the top-of-book marginal return, which is what the float
   screen of the engine relies on.

All arithmetic runs in one decimal context (34 digits, rounding toward -infinity, so it never overstates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Context, Decimal, localcontext

from core.arbitrage.book import Level
from core.arbitrage.graph import Side

CONTEXT = Context(prec=34, rounding=ROUND_FLOOR)
ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class LegSpec:
    """What one leg trades and the market's order rules."""

    symbol: str
    side: Side
    lot: Decimal | None
    min_amount: Decimal | None
    min_notional: Decimal | None


@dataclass(frozen=True, slots=True)
class LegFill:
    """The executed leg: ``amount`` of base at the size-weighted ``price``."""

    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Evaluation:
    """An executable cycle at its size."""

    size: Decimal
    fills: tuple[LegFill, ...]
    gross_return: Decimal
    net_return: Decimal


def evaluate(
    legs: Sequence[LegSpec], books: Sequence[Sequence[Level]], fee: Decimal, threshold: Decimal
) -> Evaluation | None:
    """Evaluate a cycle; ``books[i]`` are leg ``i``'s levels on its side (bids to sell, asks to buy).

    Returns ``None`` when the cycle is not executable or does not return more than ``threshold``.
    """
    with localcontext(CONTEXT):
        keep = ONE - fee
        hurdle = ONE + threshold
        start = _max_start(legs, books, keep, hurdle)
        if start <= ZERO:
            return None
        executed = _execute(legs, books, keep, start)
        if executed is None:
            return None
        used, final, fills = executed
        net = final / used - ONE
        if net <= threshold:
            return None
        gross = ONE
        for spec, fill in zip(legs, fills, strict=True):
            gross = gross * fill.price if spec.side == "sell" else gross / fill.price
        return Evaluation(used, fills, gross - ONE, net)


def _max_start(
    legs: Sequence[LegSpec], books: Sequence[Sequence[Level]], keep: Decimal, hurdle: Decimal
) -> Decimal:
    """The largest start amount whose every marginal unit returns more than ``hurdle``."""
    count = len(legs)
    level = [0] * count
    used = [ZERO] * count  # base already taken from each leg's current level
    total = ZERO
    if any(not book for book in books):
        return ZERO
    while True:
        rates: list[Decimal] = []
        marginal = ONE
        for i, spec in enumerate(legs):
            price = books[i][level[i]][0]
            rate = price * keep if spec.side == "sell" else keep / price
            rates.append(rate)
            marginal *= rate
        if marginal <= hurdle:
            return total
        per_start: list[Decimal] = []  # base consumed on each leg per unit of start asset
        caps: list[Decimal] = []
        reach = ONE  # units of the leg's input asset per unit of start asset
        for i, spec in enumerate(legs):
            price, amount = books[i][level[i]]
            per = reach if spec.side == "sell" else reach / price
            per_start.append(per)
            caps.append(max(amount - used[i], ZERO) / per)
            reach *= rates[i]
        step = min(caps)
        total += step
        for i in range(count):
            if caps[i] == step:
                level[i] += 1
                used[i] = ZERO
                if level[i] == len(books[i]):
                    return total
            else:
                used[i] += step * per_start[i]


def _execute(
    legs: Sequence[LegSpec], books: Sequence[Sequence[Level]], keep: Decimal, start: Decimal
) -> tuple[Decimal, Decimal, tuple[LegFill, ...]] | None:
    """Trade ``start`` around the cycle: (start amount used, final amount, fills) or ``None``."""
    held = start
    used = ZERO
    fills: list[LegFill] = []
    for i, spec in enumerate(legs):
        if spec.side == "sell":
            amount, notional, price = _sell(books[i], _floor(held, spec.lot), spec.lot)
            received = notional * keep
        else:
            amount, notional, price = _buy(books[i], held, spec.lot)
            received = amount * keep
        if amount <= ZERO or notional <= ZERO:
            return None
        if spec.min_amount is not None and amount < spec.min_amount:
            return None
        if spec.min_notional is not None and notional < spec.min_notional:
            return None
        if i == 0:
            used = amount if spec.side == "sell" else notional
        fills.append(LegFill(price, amount))
        held = received
    return used, held, tuple(fills)


def _floor(amount: Decimal, lot: Decimal | None) -> Decimal:
    if lot is None or lot <= ZERO:
        return amount
    return (amount // lot) * lot


def _sell(book: Sequence[Level], amount: Decimal, lot: Decimal | None) -> tuple[Decimal, Decimal, Decimal]:
    """Sell up to ``amount`` of base into the bids: (base sold, quote received before fees, price)."""
    left = amount
    proceeds = ZERO
    for price, size in book:
        if left <= ZERO:
            break
        take = min(size, left)
        proceeds += take * price
        left -= take
    if left > ZERO:  # the book is shallower than asked: sell what it holds, on the lot grid
        return _sell(book, _floor(amount - left, lot), lot)
    return amount, proceeds, _average(book, amount, proceeds)


def _buy(book: Sequence[Level], funds: Decimal, lot: Decimal | None) -> tuple[Decimal, Decimal, Decimal]:
    """Buy the most lot-rounded base ``funds`` of quote pay for: (base bought, quote spent, price)."""
    left = funds
    bought = ZERO
    for price, size in book:
        if left <= ZERO:
            break
        cost = size * price
        if cost <= left:
            bought += size
            left -= cost
        else:
            bought += left / price
            left = ZERO
    amount = _floor(bought, lot)
    spent = ZERO
    left = amount
    for price, size in book:
        if left <= ZERO:
            break
        take = min(size, left)
        spent += take * price
        left -= take
    return amount, spent, _average(book, amount, spent)


def _average(book: Sequence[Level], amount: Decimal, notional: Decimal) -> Decimal:
    """The size-weighted price of a fill: the top price itself when the top level covered it."""
    if amount <= ZERO:
        return ZERO
    if amount <= book[0][1]:
        return book[0][0]
    return notional / amount
