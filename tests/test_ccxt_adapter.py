"""The generic ccxt adapter: error translation, market precision, and a run against the simulated venue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, ClassVar

import ccxt
import pytest

from core.capabilities import Capabilities
from core.ccxt_adapter import DECIMAL_PLACES, TICK_SIZE, CcxtAdapter, exact
from core.ccxt_errors import translate_ccxt_error
from core.config import InstanceConfig, VenueUrls
from core.errors import (
    BadResponseError,
    ConfigError,
    NotSupportedError,
    QuotewireError,
    RateLimitedError,
    TransientError,
    UnknownSymbolError,
)
from core.intervals import Interval
from core.models import Channel


class GenericBinance(CcxtAdapter):
    """Binance through ccxt's unified methods only: what the generic base gives any exchange."""

    plugin_name = "ccxt-binance-test"
    ccxt_id = "binance"
    ccxt_options: ClassVar[dict[str, Any]] = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}
    rest_url_keys = ("public", "private", "v1")
    capabilities = Capabilities(depth_levels=(5, 10, 20, 50, 100, 500, 1000, 5000))


@pytest.mark.parametrize(
    ("exc", "status", "headers", "expected"),
    [
        (ccxt.RateLimitExceeded("x 429"), 429, {"Retry-After": "7"}, RateLimitedError),
        (ccxt.DDoSProtection("binance 418 I'm a teapot"), 418, {"retry-after": "120"}, RateLimitedError),
        (ccxt.ExchangeNotAvailable("x 503"), 503, {}, TransientError),
        (ccxt.RequestTimeout("slow"), None, None, TransientError),
        (ccxt.NetworkError("reset"), None, None, TransientError),
        (ccxt.BadSymbol("binance Invalid symbol."), 400, {}, UnknownSymbolError),
        (ccxt.BadResponse("garbage"), 200, {}, BadResponseError),
        (ccxt.NotSupported("no"), None, None, NotSupportedError),
        (ccxt.AuthenticationError("key rejected"), 401, {}, ConfigError),
        (ValueError("bad number"), 200, {}, BadResponseError),
    ],
)
def test_translation(
    exc: Exception, status: int | None, headers: dict[str, str] | None, expected: type[QuotewireError]
) -> None:
    translated = translate_ccxt_error(exc, instance="inst", status=status, headers=headers)
    assert type(translated) is expected
    assert str(translated).startswith("inst")


def test_rate_limit_details() -> None:
    limited = translate_ccxt_error(
        ccxt.DDoSProtection("429"), instance="i", status=429, headers={"Retry-After": "7"}
    )
    banned = translate_ccxt_error(
        ccxt.DDoSProtection("418"), instance="i", status=418, headers={"Retry-After": "120"}
    )
    assert isinstance(limited, RateLimitedError)
    assert isinstance(banned, RateLimitedError)
    assert (limited.retry_after, limited.banned) == (7.0, False)
    assert (banned.retry_after, banned.banned) == (120.0, True)


def test_network_error_after_a_429_is_not_rate_limited() -> None:
    # ``call`` resets the remembered status before each request, so a stale 429 cannot leak in
    assert type(translate_ccxt_error(ccxt.NetworkError("x"), instance="i")) is TransientError


def test_auth_errors_do_not_repeat_the_venue_text() -> None:
    error = translate_ccxt_error(ccxt.AuthenticationError("apiKey=SECRET"), instance="i")
    assert "SECRET" not in str(error)


def test_exact_values() -> None:
    assert exact("0.00001230") == Decimal("0.00001230")
    assert str(exact("0.00001230")) == "0.00001230"
    assert exact(0.1) == Decimal("0.1")  # a float ccxt built from JSON keeps its JSON text
    assert exact(None) is None
    with pytest.raises(ValueError, match="abc"):
        exact("abc")


def market(precision: dict[str, Any], active: bool = True) -> dict[str, Any]:
    return {
        "symbol": "ETH/BTC",
        "id": "ETHBTC",
        "base": "ETH",
        "quote": "BTC",
        "active": active,
        "precision": precision,
        "limits": {"amount": {"min": "0.00010000"}, "cost": {"min": "0.00010000"}},
    }


def test_market_tick_size_mode() -> None:
    adapter = GenericBinance(InstanceConfig(name="x", plugin="binance"))
    m = adapter.market_from_ccxt(market({"price": "0.00000100", "amount": "0.00010000"}), 1, TICK_SIZE)
    assert (m.price_increment, m.price_precision) == (Decimal("0.000001"), 6)
    assert str(m.price_increment) == "0.00000100"
    assert (m.amount_precision, m.min_notional) == (4, Decimal("0.0001"))


def test_market_decimal_places_mode() -> None:
    adapter = GenericBinance(InstanceConfig(name="x", plugin="binance"))
    m = adapter.market_from_ccxt(market({"price": 2, "amount": "8"}, active=False), 1, DECIMAL_PLACES)
    assert (m.price_increment, m.price_precision) == (Decimal("0.01"), 2)
    assert (m.amount_increment, m.amount_precision) == (Decimal("1E-8"), 8)
    assert m.status == "halted"


def test_capabilities_from_ccxt_has_map() -> None:
    caps = CcxtAdapter.capabilities_for("binance")
    assert caps.channels == set(Channel)
    assert Interval.MO1 in caps.intervals
    assert caps.rate_limit is not None
    assert caps.stream_channels == frozenset()


@pytest.fixture
async def generic() -> AsyncIterator[GenericBinance]:
    from exchanges.binance.sim import create_venue  # the simulated Binance speaks what ccxt expects

    venue = create_venue(seed=3, symbols=4)
    await venue.start()
    urls = venue.instance_urls()
    cfg = InstanceConfig(name="ccxt-sim", plugin="ccxt", urls=VenueUrls(rest=urls["rest"]))
    try:
        async with GenericBinance(cfg) as adapter:
            yield adapter
    finally:
        await venue.stop()


async def test_generic_adapter_against_the_venue(generic: GenericBinance) -> None:
    markets = await generic.load_markets()
    assert {m.symbol for m in markets} >= {"BTC/USDT"}
    btc = generic.market("BTC/USDT")
    assert btc.price_increment is not None
    ticker = await generic.fetch_ticker("BTC/USDT")
    quotes = await generic.fetch_quotes(["BTC/USDT"])
    prices = await generic.fetch_prices(["BTC/USDT"])
    book = await generic.fetch_depth("BTC/USDT", 5)
    trades = await generic.fetch_trades("BTC/USDT", 5)
    klines = await generic.fetch_klines("BTC/USDT", Interval.M5, limit=3)
    # ``exchange.number = str``: the venue's 8-decimal text survives (a float would print 65002.2)
    values = (ticker.last, prices[0].price, book.bids[0][0], book.asks[0][1], trades[0].price, klines[0].open)
    assert all(len(str(v).split(".")[1]) == 8 for v in values)
    assert quotes[0].bid < quotes[0].ask
    assert len(book.bids) == 5
    assert book.bids[0][0] < book.asks[0][0]
    assert trades
    assert [k.open_time for k in klines] == sorted(k.open_time for k in klines)
    assert all(k.close_time == Interval.M5.close_time(k.open_time) for k in klines)
    assert "last_response_headers" not in repr(generic)


async def test_generic_adapter_unknown_symbol(generic: GenericBinance) -> None:
    await generic.load_markets()
    with pytest.raises(UnknownSymbolError) as caught:
        generic.market("BTC/USDX")
    assert "BTC/USDT" in caught.value.suggestions
    with pytest.raises(UnknownSymbolError):
        await generic.fetch_ticker("NOPE/USDT")


async def _passthrough_guard(
    endpoint: str, request: Any, *, symbol: str = "*", weight: int | None = None, urgent: bool = False
) -> Any:
    return await request()


async def test_ccxt_throttle_only_without_the_collector_budget(generic: GenericBinance) -> None:
    """The collector's budget paces every call; ccxt's own throttle on top would be a second limit
    the plan knows nothing about. On its own the adapter keeps ccxt's throttle."""
    assert generic.exchange.enableRateLimit is True
    generic.rest_guard = _passthrough_guard
    assert generic.exchange.enableRateLimit is False
    assert (await generic.fetch_klines("BTC/USDT", Interval.M1, limit=2))[0].symbol == "BTC/USDT"
    generic.rest_guard = None
    assert generic.exchange.enableRateLimit is True

    later = GenericBinance(generic.config)
    later.rest_guard = _passthrough_guard  # installed before the ccxt client exists
    async with later:
        assert later.exchange.enableRateLimit is False
