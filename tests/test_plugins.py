"""The plugin host: hooks provide adapters, venues and observers; conflicts are errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from core.adapter import ExchangeAdapter
from core.capabilities import Capabilities
from core.errors import PluginError
from core.hookspecs import EventObserver, hookimpl
from core.intervals import Interval
from core.models import Kline, Market, OrderBook, Price, Quote, Record, Ticker, Trade
from core.plugins import PluginHost
from core.venue import VenueFactory


class PaperAdapter(ExchangeAdapter):
    """An adapter class that is only listed, never driven, in these tests."""

    plugin_name = "paper"
    capabilities = Capabilities()

    async def load_markets(self) -> list[Market]:
        raise NotImplementedError

    async def fetch_ticker(self, symbol: str) -> Ticker:
        raise NotImplementedError

    async def fetch_quote(self, symbol: str) -> Quote:
        raise NotImplementedError

    async def fetch_price(self, symbol: str) -> Price:
        raise NotImplementedError

    async def fetch_depth(self, symbol: str, levels: int) -> OrderBook:
        raise NotImplementedError

    async def fetch_trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        raise NotImplementedError

    async def fetch_klines(
        self, symbol: str, interval: Interval, *, start_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        raise NotImplementedError


class CountingObserver:
    def __init__(self) -> None:
        self.records = 0

    def on_markets(self, markets: Sequence[Market]) -> None:
        pass

    def on_records(self, records: Sequence[Record]) -> None:
        self.records += len(records)


def paper_venue(**options: Any) -> Any:
    raise NotImplementedError


class PaperPlugin:
    def __init__(self) -> None:
        self.observer = CountingObserver()

    @hookimpl
    def quotewire_adapters(self) -> Mapping[str, type[ExchangeAdapter]]:
        return {"paper": PaperAdapter}

    @hookimpl
    def quotewire_venues(self) -> Mapping[str, VenueFactory]:
        return {"paper": paper_venue}

    @hookimpl
    def quotewire_event_observer(self, instance: str, plugin: str) -> EventObserver | None:
        return self.observer if plugin == "paper" else None


def test_extra_plugins_provide_adapters_venues_and_observers() -> None:
    plugin = PaperPlugin()
    host = PluginHost.load(plugin)
    assert host.adapter("paper") is PaperAdapter
    assert host.venues["paper"] is paper_venue
    assert plugin.observer in host.observers("paper-1", "paper")
    assert plugin.observer not in host.observers("other", "binance")


def test_built_in_adapters_come_through_entry_points() -> None:
    host = PluginHost.load()
    assert "binance" in host.adapters
    assert "huobi" in host.adapters


def test_unknown_plugin_lists_what_is_installed() -> None:
    host = PluginHost.load(PaperPlugin())
    with pytest.raises(PluginError, match=r"unknown plugin 'nope' \(installed: .*paper"):
        host.adapter("nope")


class OtherPaperAdapter(PaperAdapter):
    pass


class RivalPlugin:
    @hookimpl
    def quotewire_adapters(self) -> Mapping[str, type[ExchangeAdapter]]:
        return {"paper": OtherPaperAdapter}


def test_two_plugins_providing_one_name_is_an_error() -> None:
    host = PluginHost.load(PaperPlugin(), RivalPlugin())
    with pytest.raises(PluginError, match="two plugins provide the adapter 'paper'"):
        _ = host.adapters
