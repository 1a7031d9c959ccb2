"""Brute-force reference: every cycle from scratch, every cycle evaluated exactly, no screen.

Used by the property tests to check the incremental engine. Deliberately simple and slow: it walks
all permutations of distinct assets and every choice of market between consecutive assets, so it
is only for small graphs. It shares the leg arithmetic (:func:`~core.arbitrage.evaluate.evaluate`,
whose semantics the unit tests pin by hand) but not the graph, enumeration, screen or bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, localcontext
from itertools import permutations, product

from core.arbitrage.book import Book
from core.arbitrage.evaluate import CONTEXT, LegSpec, evaluate
from core.arbitrage.graph import Side
from core.arbitrage.models import Opportunity
from core.arbitrage.settings import ArbitrageSettings
from core.models import Market


def start_asset(assets: Sequence[str], preferred: Sequence[str]) -> str:
    """The asset a cycle is reported from: the first preferred one it holds, else the smallest."""
    for asset in preferred:
        if asset in assets:
            return asset
    return min(assets)


def brute_force(
    instance: str,
    markets: Iterable[Market],
    books: Mapping[str, Book],
    settings: ArbitrageSettings,
    now: int,
) -> list[Opportunity]:
    """All opportunities of the instance given the latest ``books`` by symbol, best first."""
    listed: dict[str, Market] = {}
    for market in markets:
        if market.status == "trading" and market.base != market.quote and market.symbol not in listed:
            listed[market.symbol] = market
    links: dict[tuple[str, str], list[tuple[Market, Side]]] = {}
    for market in listed.values():
        links.setdefault((market.base, market.quote), []).append((market, "sell"))
        links.setdefault((market.quote, market.base), []).append((market, "buy"))
    assets = sorted({a for pair in links for a in pair})
    found: list[Opportunity] = []
    for legs in range(3, settings.max_legs + 1):
        for path in permutations(assets, legs):
            if path[0] != start_asset(path, settings.preferred_starts):
                continue
            hops = [links.get((path[i], path[(i + 1) % legs]), []) for i in range(legs)]
            for choice in product(*hops):
                opportunity = _evaluate(instance, path, choice, books, listed, settings, now)
                if opportunity is not None:
                    found.append(opportunity)
    return sorted(found, key=lambda o: (-o.net_return, o.id))


def _evaluate(  # noqa: PLR0917 - a private helper of the brute force
    instance: str,
    path: Sequence[str],
    choice: Sequence[tuple[Market, Side]],
    books: Mapping[str, Book],
    listed: Mapping[str, Market],
    settings: ArbitrageSettings,
    now: int,
) -> Opportunity | None:
    used = [books.get(market.symbol) for market, _ in choice]
    present = [book for book in used if book is not None]
    if len(present) != len(used):
        return None
    specs = [LegSpec(m.symbol, side, m.amount_increment, m.min_amount, m.min_notional) for m, side in choice]
    levels = [b.bids if side == "sell" else b.asks for b, (_, side) in zip(present, choice, strict=True)]
    result = evaluate(specs, levels, settings.taker_fee, settings.min_net_return)
    if result is None:
        return None
    age = max(now - min(book.time for book in present), 0)
    return Opportunity.model_validate(
        {
            "instance": instance,
            "id": ",".join(f"{m.symbol}:{side}" for m, side in choice),
            "path": (*path, path[0]),
            "legs": [
                {"symbol": m.symbol, "side": side, "price": fill.price, "amount": fill.amount}
                for (m, side), fill in zip(choice, result.fills, strict=True)
            ],
            "gross_return": result.gross_return,
            "net_return": result.net_return,
            "size": result.size,
            "size_usd": _usd(path[0], result.size, books, listed, settings),
            "oldest_quote_age_ms": age,
            "detected_at": now,
            "stale": age > settings.stale_after_ms,
        }
    )


def _usd(
    asset: str, amount: Decimal, books: Mapping[str, Book], listed: Mapping[str, Market],
    settings: ArbitrageSettings,
) -> Decimal | None:
    if asset in settings.usd_assets:
        return amount
    with localcontext(CONTEXT):
        for usd in settings.usd_assets:
            direct, inverse = f"{asset}/{usd}", f"{usd}/{asset}"
            book = books.get(direct) if direct in listed else None
            if book is not None and book.bids:
                return amount * book.bids[0][0]
            book = books.get(inverse) if inverse in listed else None
            if book is not None and book.asks:
                return amount / book.asks[0][0]
    return None
