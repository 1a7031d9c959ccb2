"""The ``quotewire`` entry point of this package: ``paperex = "quotewire_paperex.plugin"``."""

from __future__ import annotations

from collections.abc import Mapping

from core.adapter import ExchangeAdapter
from core.hookspecs import hookimpl
from core.venue import VenueFactory

from .adapter import PaperexAdapter
from .venue import create_venue


@hookimpl
def quotewire_adapters() -> Mapping[str, type[ExchangeAdapter]]:
    """``plugin: paperex`` in plugins.yaml."""
    return {"paperex": PaperexAdapter}


@hookimpl
def quotewire_venues() -> Mapping[str, VenueFactory]:
    """``quotewire sim --venue paperex``."""
    return {"paperex": create_venue}
