"""The generic ccxt-backed adapter: every fetch through ccxt's unified methods.

An exchange subclass states only what differs (its ccxt id, capabilities, which ccxt ``urls`` keys a
REST override replaces, and the fetches it does better with raw endpoints). ccxt is created in
:meth:`CcxtAdapter.open` with ``exchange.number = str`` so prices arrive as the venue's exact text;
they become ``Decimal`` in our models and never pass through ``float``. Every ccxt call runs inside
:func:`core.ccxt_errors.ccxt_errors`, the one place where ccxt exceptions are translated.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxt_async

from core.adapter import ExchangeAdapter
from core.capabilities import Capabilities, RateLimit
from core.ccxt_errors import ccxt_errors
from core.clock import SYSTEM_CLOCK, Clock
from core.config import InstanceConfig, VenueUrls
from core.errors import BadResponseError, PluginError, UnknownSymbolError
from core.intervals import ALL_INTERVALS, Interval
from core.models import Channel, Kline, Market, OrderBook, Price, Quote, Ticker, Trade
from core.symbols import SymbolResolver

log = logging.getLogger(__name__)
T = TypeVar("T")

TICK_SIZE = 4
DECIMAL_PLACES = 2
_HAS_TO_CHANNEL: Mapping[str, Channel] = {
    "fetchTicker": Channel.TICKER,
    "fetchBidsAsks": Channel.QUOTE,
    "fetchOrderBook": Channel.DEPTH,
    "fetchTrades": Channel.TRADES,
    "fetchOHLCV": Channel.KLINE,
}


def exact(value: Any) -> Decimal | None:
    """A ccxt value as an exact ``Decimal`` (``None`` stays ``None``).

    With ``exchange.number = str`` ccxt hands back the venue's text. A few ccxt parsers still build
    floats from JSON numbers; those are taken through their shortest ``repr``, which is the JSON text
    the venue sent.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None


def decimal_places(increment: Decimal) -> int:
    """Decimal places an increment implies: ``0.01000000`` → 2, ``0.05`` → 2, ``10`` → 0."""
    exponent = increment.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _exact_bid_ask(bidask: Any, price_key: Any = 0, amount_key: Any = 1, count_key: Any = 2) -> list[Any]:
    """ccxt's order-book level parser, with ``Decimal`` instead of ``float`` (ccxt ignores ``number``
    here); ``Decimal`` sorts like the float did, so ccxt's own ordering still holds."""
    level: list[Any] = [exact(_pick(bidask, price_key)), exact(_pick(bidask, amount_key))]
    count = _pick(bidask, count_key)
    if count is not None:
        level.append(count)
    return level


def _pick(row: Any, key: Any) -> Any:
    if isinstance(row, Mapping):
        return row.get(key)
    if isinstance(row, list | tuple) and isinstance(key, int) and 0 <= key < len(row):
        return row[key]
    return None


class CcxtAdapter(ExchangeAdapter):
    """An :class:`~core.adapter.ExchangeAdapter` served by one ``ccxt.async_support`` exchange."""

    ccxt_id: ClassVar[str | None] = None
    """The ccxt exchange id; ``None`` takes it from ``config.ccxt_id`` (the generic plugin)."""
    ccxt_options: ClassVar[Mapping[str, Any]] = {}
    """Extra ccxt ``options`` (e.g. which market types to load)."""
    rest_url_keys: ClassVar[tuple[str, ...] | None] = None
    """The ccxt ``urls['api']`` keys that ``urls.rest`` replaces; ``None`` replaces all of them."""

    def __init__(self, config: InstanceConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(config, clock=clock)
        self._exchange: Any = None
        self._markets: dict[str, Market] = {}
        self._resolver = SymbolResolver(())
        self._last_status: int | None = None
        self._last_headers: Mapping[str, str] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(instance={self.instance!r})"

    # ---- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the ccxt exchange (no request is made here)."""
        if self._exchange is not None:
            return
        exchange_id = self.ccxt_id or self.config.ccxt_id
        if not exchange_id or not hasattr(ccxt_async, exchange_id):
            raise PluginError(f"{self.instance}: unknown ccxt exchange id {exchange_id!r}")
        params: dict[str, Any] = {"options": dict(self.ccxt_options)}
        credentials = self.config.credentials
        if credentials is not None:
            for key, secret in (
                ("apiKey", credentials.api_key),
                ("secret", credentials.secret),
                ("password", credentials.password),
            ):
                if secret is not None:
                    params[key] = secret.get_secret_value()
        exchange = getattr(ccxt_async, exchange_id)(params)
        exchange.number = str
        exchange.on_rest_response = self._on_rest_response
        exchange.parse_order_book_bid_ask = _exact_bid_ask
        self.apply_url_overrides(exchange, self.config.urls)
        self._exchange = exchange
        self.rest_guard_changed()  # ccxt's own throttle: on unless a guard is already installed

    async def close(self) -> None:
        """Close ccxt's HTTP session; safe to call twice."""
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            await exchange.close()

    def apply_url_overrides(self, exchange: Any, urls: VenueUrls) -> None:
        """Point ccxt at ``urls.rest``: keep each API path, replace scheme, host and port."""
        if not urls.rest:
            return
        base = urls.rest.rstrip("/")
        api = exchange.urls.get("api")
        if isinstance(api, str):
            exchange.urls["api"] = base + urlsplit(api).path
            return
        for key, url in list(api.items()):
            if isinstance(url, str) and (self.rest_url_keys is None or key in self.rest_url_keys):
                api[key] = base + urlsplit(url).path

    def _on_rest_response(  # noqa: PLR0917 - ccxt's hook signature
        self,
        code: int,
        reason: str,
        url: str,
        method: str,
        response_headers: Mapping[str, str],
        response_body: str,
        request_headers: Any,
        request_body: Any,
    ) -> str:
        self._last_status = code
        self._last_headers = response_headers
        return response_body.strip()

    @property
    def exchange(self) -> Any:
        """The open ccxt exchange."""
        if self._exchange is None:
            raise PluginError(f"{self.instance}: the adapter is not open (use 'async with')")
        return self._exchange

    @property
    def last_response_headers(self) -> Mapping[str, str]:
        """Headers of the latest REST response (rate-limit usage lives there)."""
        return self._last_headers

    async def call(self, method: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await one ccxt call with errors translated (the only way adapters talk to ccxt)."""
        self._last_status = None
        with ccxt_errors(self.instance, lambda: (self._last_status, self._last_headers)):
            return await method(*args, **kwargs)

    # ---- capabilities --------------------------------------------------------------------------
    @classmethod
    def capabilities_for(cls, exchange_id: str) -> Capabilities:
        """What ccxt says an exchange can do (its ``has`` map, timeframes and rate limit)."""
        if not hasattr(ccxt, exchange_id):
            raise PluginError(f"unknown ccxt exchange id {exchange_id!r}")
        described = getattr(ccxt, exchange_id)().describe()
        has: Mapping[str, Any] = described.get("has", {})
        channels = {channel for name, channel in _HAS_TO_CHANNEL.items() if has.get(name)}
        if has.get("fetchTicker"):
            channels |= {Channel.QUOTE, Channel.PRICE}
        timeframes: Mapping[str, Any] = described.get("timeframes") or {}
        rate_ms = float(described.get("rateLimit") or 0)
        return Capabilities(
            channels=frozenset(channels),
            intervals=tuple(i for i in ALL_INTERVALS if i.value in timeframes),
            rate_limit=RateLimit(unit="requests", limit=int(60_000 / rate_ms)) if rate_ms > 0 else None,
        )

    # ---- markets -------------------------------------------------------------------------------
    async def load_markets(self) -> list[Market]:
        """Markets through ccxt ``load_markets`` (spot only, any status)."""
        raw = await self.call(self.exchange.load_markets, True)
        now = self.clock.now_ms()
        with ccxt_errors(self.instance):
            mode = self.exchange.precisionMode
            markets = [self.market_from_ccxt(m, now, mode) for m in raw.values() if m.get("spot", True)]
        self.remember_markets(markets)
        return markets

    def remember_markets(self, markets: Sequence[Market]) -> None:
        """Keep the market list for symbol checks and native-id lookups."""
        self._markets = {m.symbol: m for m in markets}
        self._resolver = SymbolResolver(self._markets)

    def market(self, symbol: str) -> Market:
        """The loaded market of ``symbol`` or :class:`UnknownSymbolError` with suggestions."""
        found = self._markets.get(symbol)
        if found is not None:
            return found
        raise UnknownSymbolError(
            f"{self.instance}: unknown symbol {symbol!r}",
            symbol=symbol,
            suggestions=self._resolver.suggest(symbol),
        )

    def rest_guard_changed(self) -> None:
        """ccxt's own throttle runs only while no :attr:`rest_guard` is installed.

        Under the collector every REST call already waits for the instance's weight budget (the
        venue's published limit, its used-weight header, 429/418 pauses). ccxt's throttle on top is
        a second, hidden limit the budget planner knows nothing about: it spaces calls by its own
        ``rateLimit`` x cost (Binance: 20 ms a K-line request, 50 ms a depth snapshot), so a plan
        that "fits" ran far slower than planned. Without a guard (the adapter used on its own) it
        stays on.
        """
        if self._exchange is not None:
            self._exchange.enableRateLimit = self.rest_guard is None

    async def ensure_markets(self) -> Mapping[str, Market]:
        """Load markets once, on first need."""
        if not self._markets:
            await self.load_markets()
        return self._markets

    def market_from_ccxt(self, m: Mapping[str, Any], receive_time: int, precision_mode: int) -> Market:
        """Normalize one ccxt market; increments stay exact whatever ccxt's precision mode."""
        precision: Mapping[str, Any] = m.get("precision") or {}
        limits: Mapping[str, Any] = m.get("limits") or {}
        price_inc, price_dp = self._precision(precision.get("price"), precision_mode)
        amount_inc, amount_dp = self._precision(precision.get("amount"), precision_mode)
        active = m.get("active")
        return Market(
            instance=self.instance,
            symbol=str(m["symbol"]),
            native_id=str(m["id"]),
            base=str(m["base"]),
            quote=str(m["quote"]),
            status="halted" if active is False else "trading",
            price_increment=price_inc,
            amount_increment=amount_inc,
            price_precision=price_dp,
            amount_precision=amount_dp,
            min_amount=exact((limits.get("amount") or {}).get("min")),
            min_notional=exact((limits.get("cost") or {}).get("min")),
            receive_time=receive_time,
        )

    @staticmethod
    def _precision(value: Any, mode: int) -> tuple[Decimal | None, int | None]:
        number = exact(value)
        if number is None:
            return None, None
        if mode == TICK_SIZE:
            return number, decimal_places(number)
        if mode == DECIMAL_PLACES:
            places = int(number)
            return Decimal(1).scaleb(-places), places
        return None, None  # significant digits say nothing about an increment

    # ---- snapshots -----------------------------------------------------------------------------
    async def fetch_ticker(self, symbol: str) -> Ticker:
        """24-hour ticker via ccxt ``fetch_ticker``."""
        raw = await self.call(self.exchange.fetch_ticker, symbol)
        return self._ticker(symbol, raw)

    async def fetch_tickers(self, symbols: Sequence[str]) -> list[Ticker]:
        """24-hour tickers via ccxt ``fetch_tickers`` when the venue has it."""
        if not self.exchange.has.get("fetchTickers"):
            return await super().fetch_tickers(symbols)
        raw = await self.call(self.exchange.fetch_tickers, list(symbols))
        return [self._ticker(s, raw[s]) for s in symbols if s in raw]

    async def fetch_quote(self, symbol: str) -> Quote:
        """Best bid and ask from ccxt's ticker."""
        raw = await self.call(self.exchange.fetch_ticker, symbol)
        return self._quote(symbol, raw)

    async def fetch_quotes(self, symbols: Sequence[str]) -> list[Quote]:
        """Best bids and asks via ``fetch_bids_asks`` (or ``fetch_tickers``)."""
        if self.exchange.has.get("fetchBidsAsks"):
            raw = await self.call(self.exchange.fetch_bids_asks, list(symbols))
        elif self.exchange.has.get("fetchTickers"):
            raw = await self.call(self.exchange.fetch_tickers, list(symbols))
        else:
            return await super().fetch_quotes(symbols)
        return [self._quote(s, raw[s]) for s in symbols if s in raw]

    async def fetch_price(self, symbol: str) -> Price:
        """Last price from ccxt's ticker."""
        raw = await self.call(self.exchange.fetch_ticker, symbol)
        return self._price(symbol, raw)

    async def fetch_prices(self, symbols: Sequence[str]) -> list[Price]:
        """Last prices via ``fetch_tickers``."""
        if not self.exchange.has.get("fetchTickers"):
            return await super().fetch_prices(symbols)
        raw = await self.call(self.exchange.fetch_tickers, list(symbols))
        return [self._price(s, raw[s]) for s in symbols if s in raw]

    async def fetch_depth(self, symbol: str, levels: int) -> OrderBook:
        """The top ``levels`` via ``fetch_order_book`` at the nearest supported size."""
        limit = self.capabilities.nearest_depth(levels)
        raw = await self.call(self.exchange.fetch_order_book, symbol, limit)
        return self._book(symbol, raw, levels)

    async def fetch_trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        """Recent public trades via ``fetch_trades``, oldest first."""
        raw = await self.call(self.exchange.fetch_trades, symbol, None, limit)
        trades = [self._trade(symbol, t) for t in raw]
        return sorted(trades, key=lambda t: t.event_time or 0)

    async def fetch_klines(
        self, symbol: str, interval: Interval, *, start_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        """Candles via ``fetch_ohlcv`` (ccxt rows carry no quote volume or trade count)."""
        limit = min(limit, self.capabilities.max_klines_per_request)
        rows = await self.call(self.exchange.fetch_ohlcv, symbol, interval.value, start_ms, limit)
        return [self._kline(symbol, interval, row) for row in rows]

    # ---- ccxt structures -> records -----------------------------------------------------------
    # (shared with subclasses that stream through ccxt.pro, whose structures are the same)
    def _book(self, symbol: str, book: Mapping[str, Any], levels: int) -> OrderBook:
        with ccxt_errors(self.instance):
            return OrderBook(
                instance=self.instance,
                symbol=symbol,
                event_time=book.get("timestamp"),
                receive_time=self.clock.now_ms(),
                bids=[(exact(p), exact(a)) for p, a, *_ in book["bids"][:levels]],
                asks=[(exact(p), exact(a)) for p, a, *_ in book["asks"][:levels]],
                sequence=book.get("nonce"),
                depth=levels,
            )

    def _trade(self, symbol: str, t: Mapping[str, Any]) -> Trade:
        with ccxt_errors(self.instance):
            return Trade(
                instance=self.instance,
                symbol=symbol,
                event_time=t.get("timestamp"),
                receive_time=self.clock.now_ms(),
                id=str(t["id"]),
                price=exact(t["price"]),
                amount=exact(t["amount"]),
                side=t["side"],
            )

    def _kline(self, symbol: str, interval: Interval, row: Sequence[Any]) -> Kline:
        opened, o, h, low, c, v, *_ = row
        now = self.clock.now_ms()
        close_time = interval.close_time(int(opened), self.capabilities.utc_offset_ms)
        with ccxt_errors(self.instance):
            return Kline(
                instance=self.instance,
                symbol=symbol,
                event_time=None,
                receive_time=now,
                interval=interval,
                open_time=int(opened),
                close_time=close_time,
                open=exact(o),
                high=exact(h),
                low=exact(low),
                close=exact(c),
                volume=exact(v) or Decimal(0),
                closed=close_time < now,
            )

    def _ticker(self, symbol: str, t: Mapping[str, Any]) -> Ticker:
        with ccxt_errors(self.instance):
            return Ticker(
                instance=self.instance,
                symbol=symbol,
                event_time=t.get("timestamp"),
                receive_time=self.clock.now_ms(),
                open=exact(t.get("open")),
                high=exact(t.get("high")),
                low=exact(t.get("low")),
                last=exact(t.get("last") if t.get("last") is not None else t.get("close")),
                volume=exact(t.get("baseVolume")),
                quote_volume=exact(t.get("quoteVolume")),
                change=exact(t.get("change")),
                change_percent=exact(t.get("percentage")),
                bid=exact(t.get("bid")),
                bid_size=exact(t.get("bidVolume")),
                ask=exact(t.get("ask")),
                ask_size=exact(t.get("askVolume")),
            )

    def _quote(self, symbol: str, t: Mapping[str, Any]) -> Quote:
        if t.get("bid") is None or t.get("ask") is None:
            raise BadResponseError(f"{self.instance}: {symbol}: the venue sent no best bid/ask")
        with ccxt_errors(self.instance):
            return Quote(
                instance=self.instance,
                symbol=symbol,
                event_time=t.get("timestamp"),
                receive_time=self.clock.now_ms(),
                bid=exact(t["bid"]),
                bid_size=exact(t.get("bidVolume")) or Decimal(0),
                ask=exact(t["ask"]),
                ask_size=exact(t.get("askVolume")) or Decimal(0),
            )

    def _price(self, symbol: str, t: Mapping[str, Any]) -> Price:
        last = t.get("last") if t.get("last") is not None else t.get("close")
        if last is None:
            raise BadResponseError(f"{self.instance}: {symbol}: the venue sent no last price")
        with ccxt_errors(self.instance):
            return Price(
                instance=self.instance,
                symbol=symbol,
                event_time=t.get("timestamp"),
                receive_time=self.clock.now_ms(),
                price=exact(last),
            )
