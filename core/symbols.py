"""Symbol spellings.

Inside quotewire a symbol is unified ``BASE/QUOTE`` (``BTC/USDT``). In URLs and Redis keys it is
``BASE-QUOTE``. Users may write ``BTC-USDT``, ``btcusdt``, ``BTCUSDT`` or ``btc_usdt``; the separator-less
forms are resolved against a market list, since ``BTCUSDT`` alone does not say where BASE ends.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from core.errors import UnknownSymbolError

_SEPARATORS = re.compile(r"[-_/:]")
_VALID_PART = re.compile(r"^[A-Z0-9.]{1,30}$")


def unified(base: str, quote: str) -> str:
    """``unified("btc", "usdt") == "BTC/USDT"``."""
    return f"{base.upper()}/{quote.upper()}"


def split(symbol: str) -> tuple[str, str]:
    """Split a unified ``BASE/QUOTE`` symbol."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote:
        raise ValueError(f"not a unified BASE/QUOTE symbol: {symbol!r}")
    return base, quote


def to_key(symbol: str) -> str:
    """``BTC/USDT`` → ``BTC-USDT`` (the spelling used in URLs and Redis keys)."""
    return symbol.replace("/", "-")


def from_key(key: str) -> str:
    """``BTC-USDT`` → ``BTC/USDT``."""
    return key.replace("-", "/", 1)


def compact(symbol: str) -> str:
    """The separator-less upper-case form used for lookups: ``btc_usdt`` → ``BTCUSDT``."""
    return _SEPARATORS.sub("", symbol).upper()


def is_valid_unified(symbol: str) -> bool:
    """True when ``symbol`` is ``BASE/QUOTE`` with plausible parts."""
    base, sep, quote = symbol.partition("/")
    return bool(sep) and bool(_VALID_PART.match(base)) and bool(_VALID_PART.match(quote))


class SymbolResolver:
    """Resolves any accepted spelling to the unified symbol of a known market list."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self._unified = sorted(set(symbols))
        self._by_compact: Mapping[str, str] = {compact(s): s for s in self._unified}

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._by_compact.values()

    def resolve(self, text: str) -> str:
        """Return the unified symbol for ``text`` or raise :class:`UnknownSymbolError` with suggestions."""
        found = self._by_compact.get(compact(text))
        if found is not None:
            return found
        raise UnknownSymbolError(f"unknown symbol {text!r}", symbol=text, suggestions=self.suggest(text))

    def suggest(self, text: str, limit: int = 5) -> tuple[str, ...]:
        """Close matches for a misspelt symbol, best first."""
        matches = difflib.get_close_matches(compact(text), list(self._by_compact), n=limit, cutoff=0.6)
        return tuple(self._by_compact[m] for m in matches)
