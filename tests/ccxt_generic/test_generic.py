"""The generic ``ccxt`` plugin: per-instance capabilities, start-up errors, URL overrides, and REST
and websocket collection from the simulated Binance venue through ccxt and ccxt.pro."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ccxt.pro as ccxt_pro
import pytest

from core.adapter import Subscription
from core.config import InstanceConfig, VenueUrls
from core.errors import ConfigError, NotSupportedError, TransientError
from core.intervals import Interval
from core.models import ALL_CHANNELS, Channel, Kline, OrderBook, Quote, Ticker, Trade
from core.venue import SimulatedVenue
from exchanges.ccxt_generic import plugin
from exchanges.ccxt_generic.adapter import GenericCcxtAdapter
from tests.support.plugins import load_host
from tests.test_architecture import offending

UNREACHABLE = {"rest": "http://127.0.0.1:9", "websocket": "ws://127.0.0.1:9"}


def config(ccxt_id: str, **fields: Any) -> InstanceConfig:
    return InstanceConfig.model_validate({"name": "generic", "plugin": "ccxt", "ccxt_id": ccxt_id, **fields})


@pytest.fixture
async def venue() -> AsyncIterator[SimulatedVenue]:
    factory = load_host().venues["binance"]
    sim = factory(symbols=6, seed=3)
    await sim.start()
    yield sim
    await sim.stop()


def test_the_plugin_provides_the_generic_adapter() -> None:
    host = load_host(plugin)
    assert host.adapter("ccxt") is GenericCcxtAdapter
    # listed at plugin level: everything the generic adapter can ever serve
    assert GenericCcxtAdapter.capabilities.stream_channels == frozenset(ALL_CHANNELS)


def test_an_instance_gets_its_exchange_capabilities_from_ccxt_has() -> None:
    adapter = GenericCcxtAdapter(config("binance"))
    assert type(adapter) is GenericCcxtAdapter.for_exchange("binance")
    assert isinstance(adapter, GenericCcxtAdapter)
    assert adapter.ccxt_id == "binance"
    caps = adapter.capabilities
    assert caps.channels == frozenset(ALL_CHANNELS)
    assert caps.stream_channels == frozenset(ALL_CHANNELS)
    assert Interval.MO1 in caps.intervals
    assert caps.rate_limit is not None
    kraken = GenericCcxtAdapter.for_exchange("kraken").capabilities
    assert Interval.MO1 not in kraken.intervals  # kraken has no monthly candles


def test_an_exchange_without_ccxt_pro_polls_only() -> None:
    caps = GenericCcxtAdapter.for_exchange("bit2c").capabilities
    assert caps.stream_channels == frozenset()
    assert Channel.KLINE not in caps.channels
    adapter = GenericCcxtAdapter(config("bit2c", channels=["ticker", "trades"]))
    with pytest.raises(NotSupportedError, match=r"generic: channel 'ticker': .*'bit2c'"):
        adapter.stream([Subscription(Channel.TICKER, "BTC/ILS")])


def test_unknown_ccxt_id_is_a_config_error_naming_the_instance() -> None:
    with pytest.raises(ConfigError, match=r"generic: ccxt_id: unknown ccxt exchange id 'nope'"):
        GenericCcxtAdapter(config("nope"))


@pytest.mark.parametrize(
    ("ccxt_id", "fields", "message"),
    [
        (
            "bit2c",
            {"channels": ["kline"]},
            r"generic: channel 'kline' is not served by ccxt exchange 'bit2c'",
        ),
        ("kraken", {}, r"generic: channel 'kline': interval '1M' not served by ccxt exchange 'kraken'"),
        ("bit2c", {"transport": "websocket", "channels": ["ticker"]}, r"'ticker': .*'bit2c' cannot stream"),
    ],
)
def test_a_channel_the_exchange_cannot_serve_fails_at_start_up(
    ccxt_id: str, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(NotSupportedError, match=message):
        GenericCcxtAdapter(config(ccxt_id, **fields))


def test_urls_extra_must_name_a_ccxt_url() -> None:
    with pytest.raises(ConfigError, match=r"generic: urls.extra: .*'binance' has no URL at 'api.nope'"):
        GenericCcxtAdapter(config("binance", urls={"extra": {"api.nope": "http://127.0.0.1:1"}}))


async def test_url_overrides_reach_rest_and_websocket_urls_without_io() -> None:
    urls = {**UNREACHABLE, "extra": {"api.sapi": "http://127.0.0.1:8/sapi/v1"}}
    adapter = GenericCcxtAdapter(config("binance", urls=urls))
    async with adapter:
        api = adapter.exchange.urls["api"]
        assert api["public"] == "http://127.0.0.1:9/api/v3"
        assert api["sapi"] == "http://127.0.0.1:8/sapi/v1"
        assert api["fapiPublic"].startswith("https://")  # only the spot key is replaced
    pro = ccxt_pro.binance()
    adapter.apply_url_overrides(pro, adapter.config.urls)
    assert pro.urls["api"]["ws"]["spot"] == "ws://127.0.0.1:9/ws"  # ccxt's path is kept
    adapter.apply_url_overrides(
        pro, VenueUrls(websocket="ws://127.0.0.1:7/other", extra={"api.ws.spot": "ws://h/x"})
    )
    assert pro.urls["api"]["ws"]["spot"] == "ws://h/x"  # urls.extra sets a URL whole
    await pro.close()


async def test_any_exchange_can_be_repointed_through_urls_extra() -> None:
    adapter = GenericCcxtAdapter(
        config("kraken", intervals=["1m"], urls={"extra": {"api.public": "http://x/0"}})
    )
    async with adapter:
        assert adapter.exchange.urls["api"]["public"] == "http://x/0"


async def test_rest_collection_from_the_simulated_binance_venue(venue: SimulatedVenue) -> None:
    async with GenericCcxtAdapter(config("binance", urls=dict(venue.instance_urls()))) as adapter:
        markets = await adapter.load_markets()
        symbol = next(m.symbol for m in markets if m.status == "trading")
        ticker = await adapter.fetch_ticker(symbol)
        assert isinstance(ticker, Ticker)
        assert ticker.instance == "generic"
        assert ticker.symbol == symbol
        klines = await adapter.fetch_klines(symbol, Interval.M5, limit=3)
        assert [k.open_time % 300_000 for k in klines] == [0, 0, 0]


async def test_streams_every_channel_from_the_simulated_binance_venue(venue: SimulatedVenue) -> None:
    async with GenericCcxtAdapter(config("binance", urls=dict(venue.instance_urls()))) as adapter:
        symbol = next(m.symbol for m in await adapter.load_markets() if m.status == "trading")
        subs = [
            Subscription(c, symbol) for c in (Channel.TICKER, Channel.QUOTE, Channel.DEPTH, Channel.TRADES)
        ]
        subs.append(Subscription(Channel.KLINE, symbol, Interval.M1))
        seen: dict[Channel, Any] = {}
        stream = adapter.stream(subs)
        try:
            async with asyncio.timeout(30):
                async for batch in stream:
                    seen.update({r.channel: r for r in batch})  # type: ignore[attr-defined]
                    if len(seen) == len(subs):
                        break
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
    assert isinstance(seen[Channel.TICKER], Ticker)
    assert isinstance(seen[Channel.QUOTE], Quote)
    book = seen[Channel.DEPTH]
    assert isinstance(book, OrderBook)
    assert book.bids[0][0] < book.asks[0][0]
    assert isinstance(seen[Channel.TRADES], Trade)
    kline = seen[Channel.KLINE]
    assert isinstance(kline, Kline)
    assert kline.open_time == Interval.M1.open_time(kline.open_time)
    assert all(r.instance == "generic" and r.symbol == symbol for r in seen.values())


async def test_the_rest_calls_of_a_stream_pass_the_instance_budget(venue: SimulatedVenue) -> None:
    """ccxt.pro's own REST calls (an order book's snapshot, and no market list per connection) go
    through the adapter's REST guard: the venue serves no request of the stream's that the guard
    (under the collector, the instance's weight budget) did not admit."""
    admitted: list[tuple[str, str]] = []

    async def guard(
        endpoint: str,
        request: Callable[[], Awaitable[Any]],
        *,
        symbol: str = "*",
        weight: int | None = None,
        urgent: bool = False,
    ) -> Any:
        admitted.append((endpoint, symbol))
        return await request()

    urls = dict(venue.instance_urls())
    async with GenericCcxtAdapter(config("binance", urls=urls, depth_levels=10)) as adapter:
        symbol = next(m.symbol for m in await adapter.load_markets() if m.status == "trading")
        adapter.rest_guard = guard
        served_before = venue.rest.requests  # type: ignore[attr-defined]
        stream = adapter.stream([Subscription(Channel.DEPTH, symbol)])
        try:
            async with asyncio.timeout(30):
                batch = await anext(stream)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        served = venue.rest.requests - served_before  # type: ignore[attr-defined]
    assert isinstance(batch[0], OrderBook) and batch[0].symbol == symbol
    assert admitted and all(endpoint.startswith("depth") and s == symbol for endpoint, s in admitted)
    assert served == len(admitted)


async def test_a_dropped_connection_ends_the_stream_with_a_transient_error(venue: SimulatedVenue) -> None:
    async with GenericCcxtAdapter(config("binance", urls=dict(venue.instance_urls()))) as adapter:
        symbol = next(m.symbol for m in await adapter.load_markets() if m.status == "trading")
        stream = adapter.stream([Subscription(Channel.TRADES, symbol)])
        try:
            async with asyncio.timeout(30):
                await anext(stream)
                venue.disconnect_all()  # type: ignore[attr-defined]
                with pytest.raises(TransientError):
                    async for _ in stream:
                        pass
        finally:
            await stream.aclose()  # type: ignore[attr-defined]


def test_the_plugin_imports_only_core() -> None:
    assert (
        offending("exchanges/ccxt_generic", ("api", "quotewire", "exchanges.binance", "exchanges.huobi"))
        == []
    )
