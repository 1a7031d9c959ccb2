"""Resolving an instance's ``symbols:`` (a list or a rule) against a venue's markets."""

from __future__ import annotations

from typing import Literal

import pytest

from core.config import SymbolRule
from core.errors import UnknownSymbolError
from core.models import Market
from core.symbol_rules import resolve_symbols


def market(symbol: str, status: Literal["trading", "halted", "delisted"] = "trading") -> Market:
    base, quote = symbol.split("/")
    return Market(
        instance="v",
        symbol=symbol,
        native_id=base + quote,
        base=base,
        quote=quote,
        status=status,
        receive_time=0,
    )


MARKETS = [
    market("BTC/USDT"),
    market("ETH/BTC"),
    market("BCC/USDT", "halted"),
    market("ETH/USDT"),
    market("BNB/USDT"),
    market("XRP/BTC"),
]


def test_explicit_spellings_resolve_in_order_without_duplicates() -> None:
    assert resolve_symbols(["ETHUSDT", "btc-usdt", "BTC/USDT", "eth_btc"], MARKETS) == [
        "ETH/USDT",
        "BTC/USDT",
        "ETH/BTC",
    ]


def test_unknown_explicit_symbol_suggests() -> None:
    with pytest.raises(UnknownSymbolError, match="did you mean") as caught:
        resolve_symbols(["BTC/USDT", "BTC/USTD"], MARKETS)
    assert caught.value.symbol == "BTC/USTD"
    assert "BTC/USDT" in caught.value.suggestions


def test_rule_keeps_trading_markets_of_a_quote_in_venue_order() -> None:
    assert resolve_symbols(SymbolRule(quote=["usdt"]), MARKETS) == ["BTC/USDT", "ETH/USDT", "BNB/USDT"]
    assert resolve_symbols(SymbolRule(quote=["USDT"], limit=2), MARKETS) == ["BTC/USDT", "ETH/USDT"]


def test_rule_with_base_and_any_status() -> None:
    assert resolve_symbols(SymbolRule(base=["BCC", "ETH"], status="any"), MARKETS) == [
        "ETH/BTC",
        "BCC/USDT",
        "ETH/USDT",
    ]
