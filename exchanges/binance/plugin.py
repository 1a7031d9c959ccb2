"""Entry point of the built-in ``binance`` plugin (group ``quotewire``)."""

from __future__ import annotations

from collections.abc import Mapping

from core.adapter import ExchangeAdapter
from core.hookspecs import hookimpl
from core.venue import VenueFactory
from exchanges.binance.adapter import BinanceAdapter
from exchanges.binance.sim import create_venue


@hookimpl(trylast=True)
def quotewire_adapters() -> Mapping[str, type[ExchangeAdapter]]:
    return {"binance": BinanceAdapter}


@hookimpl(trylast=True)
def quotewire_venues() -> Mapping[str, VenueFactory]:
    return {"binance": create_venue}
