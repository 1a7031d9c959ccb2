"""Entry point of the built-in ``ccxt`` plugin (group ``quotewire``)."""

from __future__ import annotations

from collections.abc import Mapping

from core.adapter import ExchangeAdapter
from core.hookspecs import hookimpl
from exchanges.ccxt_generic.adapter import GenericCcxtAdapter


@hookimpl(trylast=True)
def quotewire_adapters() -> Mapping[str, type[ExchangeAdapter]]:
    """The generic adapter; ``ccxt_id`` in plugins.yaml picks the exchange."""
    return {"ccxt": GenericCcxtAdapter}
