"""Turning an instance's ``symbols:`` setting (a list or a :class:`SymbolRule`) into unified symbols."""

from __future__ import annotations

from collections.abc import Sequence

from core.config import SymbolRule
from core.errors import UnknownSymbolError
from core.models import Market
from core.symbols import SymbolResolver


def resolve_symbols(selection: Sequence[str] | SymbolRule, markets: Sequence[Market]) -> list[str]:
    """The unified symbols ``selection`` names among ``markets``, in a stable order.

    An explicit list is resolved spelling by spelling (``BTCUSDT`` and ``btc-usdt`` work too) and
    raises :class:`UnknownSymbolError` with suggestions for the first unknown one. A rule keeps the
    markets whose quote/base/status match, in the venue's order, up to ``limit``.
    """
    if isinstance(selection, SymbolRule):
        return _apply_rule(selection, markets)
    resolver = SymbolResolver(m.symbol for m in markets)
    resolved: list[str] = []
    for text in selection:
        try:
            symbol = resolver.resolve(text)
        except UnknownSymbolError as exc:
            hint = f" (did you mean {', '.join(exc.suggestions)}?)" if exc.suggestions else ""
            raise UnknownSymbolError(
                f"unknown symbol {text!r}{hint}", symbol=text, suggestions=exc.suggestions
            ) from None
        if symbol not in resolved:
            resolved.append(symbol)
    return resolved


def _apply_rule(rule: SymbolRule, markets: Sequence[Market]) -> list[str]:
    quotes = {q.upper() for q in rule.quote} if rule.quote else None
    bases = {b.upper() for b in rule.base} if rule.base else None
    chosen: list[str] = []
    for market in markets:
        if rule.status == "trading" and market.status != "trading":
            continue
        if quotes is not None and market.quote.upper() not in quotes:
            continue
        if bases is not None and market.base.upper() not in bases:
            continue
        if market.symbol in chosen:
            continue
        chosen.append(market.symbol)
        if rule.limit is not None and len(chosen) >= rule.limit:
            break
    return chosen
