"""Entry point of the built-in ``huobi`` plugin (group ``quotewire``)."""

from __future__ import annotations

from collections.abc import Mapping

from core.adapter import ExchangeAdapter
from core.hookspecs import hookimpl
from core.venue import VenueFactory
from exchanges.huobi.adapter import HuobiAdapter
from exchanges.huobi.sim import create_venue


@hookimpl(trylast=True)
def quotewire_adapters() -> Mapping[str, type[ExchangeAdapter]]:
    """The legacy HTX spot adapter."""
    return {"huobi": HuobiAdapter}


@hookimpl(trylast=True)
def quotewire_venues() -> Mapping[str, VenueFactory]:
    """The simulated HTX venue."""
    return {"huobi": create_venue}
