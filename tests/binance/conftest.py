"""Fixtures of the Binance adapter tests: the recorded payloads and a parser that knows their symbols."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.models import Market
from exchanges.binance.parsers import BinanceParser

INSTANCE = "binance-test"
SYMBOLS = {
    "BTCUSDT": ("BTC", "USDT"),
    "ETHUSDT": ("ETH", "USDT"),
    "ETHBTC": ("ETH", "BTC"),
    "BNBBTC": ("BNB", "BTC"),
    "LTCBTC": ("LTC", "BTC"),
    "NKNUSDT": ("NKN", "USDT"),
    "BNBUSDT": ("BNB", "USDT"),
}


def _market(native: str, base: str, quote: str) -> Market:
    return Market(
        instance=INSTANCE, symbol=f"{base}/{quote}", native_id=native, base=base, quote=quote, receive_time=0
    )


@pytest.fixture
def binance_fixture(fixtures_dir: Path) -> Callable[[str], Any]:
    """Load ``fixtures/binance/<name>.json``."""

    def load(name: str) -> Any:
        return json.loads((fixtures_dir / "binance" / f"{name}.json").read_text(encoding="utf-8"))

    return load


@pytest.fixture
def parser() -> BinanceParser:
    """A parser that knows every symbol the fixtures use."""
    return BinanceParser(INSTANCE, [_market(n, b, q) for n, (b, q) in SYMBOLS.items()])
