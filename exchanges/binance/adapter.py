"""The Binance spot adapter: REST through ccxt's raw endpoints, streams from raw websocket frames.

REST goes through ccxt (``publicGetKlines`` …) rather than its unified methods, so the venue's exact
strings, quote volumes and trade counts survive; ccxt still signs, throttles and maps HTTP errors,
and :class:`~core.ccxt_adapter.CcxtAdapter` translates them. Bulk fetches use the all-symbol forms of
the endpoints (``symbols=["BTCUSDT",…]``, or no symbol at all when that is cheaper).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import orjson

from core.adapter import Subscription
from core.capabilities import Capabilities, RateLimit
from core.ccxt_adapter import CcxtAdapter
from core.clock import SYSTEM_CLOCK, Clock
from core.config import InstanceConfig
from core.errors import BadResponseError, NotSupportedError
from core.intervals import Interval
from core.models import ALL_CHANNELS, Kline, Market, OrderBook, Price, Quote, Record, Ticker, Trade
from exchanges.binance.frames import StreamStats
from exchanges.binance.levels import DEFAULT_MAX_LEVELS, NATIVE
from exchanges.binance.parsers import BinanceParser, DepthSnapshot
from exchanges.binance.streams import (
    CONFLATE_BACKLOG,
    MAX_STREAMS_PER_CONNECTION,
    RENEW_AFTER_S,
    SnapshotGate,
    StreamSession,
    plan_streams,
    shard_subscriptions,
)

R = TypeVar("R", bound=Record)

LIVE_WEBSOCKET = "wss://stream.binance.com:9443"
SNAPSHOT_LIMITS = (100, 500, 1000, 5000)
LIST_LIMIT = 100
"""Above this many symbols one all-symbols request is cheaper than a ``symbols=[…]`` list."""

WEIGHTS: Mapping[str, int] = {
    "exchangeInfo": 20,
    "markets": 20,
    "ticker/24hr": 2,
    "ticker/24hr:21-100": 40,
    "ticker/24hr:all": 80,
    "ticker/bookTicker": 2,
    "ticker/bookTicker:all": 4,
    "ticker/price": 2,
    "ticker/price:all": 4,
    "depth:100": 5,
    "depth:500": 25,
    "depth:1000": 50,
    "depth:5000": 250,
    "klines": 2,
    "trades": 25,
}
"""REQUEST_WEIGHT per endpoint (Binance spot docs). ``:all`` is the form without ``symbol`` (or a
``symbols`` list), ``:21-100`` a ``symbols`` list of that length, ``depth:N`` a ``limit`` up to N;
``markets`` is the collector's name for loading the market list (``exchangeInfo``)."""

log = logging.getLogger(__name__)

_BOOKS = (
    "in C (exchanges.binance._levels)"
    if NATIVE is not None
    else "in pure Python: the C extension was not built at install (no compiler?), depth costs more CPU"
)


def depth_weight(limit: int) -> int:
    """The weight of ``/api/v3/depth?limit=…``."""
    for bucket in SNAPSHOT_LIMITS:
        if limit <= bucket:
            return WEIGHTS[f"depth:{bucket}"]
    return WEIGHTS["depth:5000"]


INTERVAL_SECONDS: Mapping[str, int] = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}


def request_weight_limit(rate_limits: Any) -> RateLimit | None:
    """``[{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    …]`` → the weight limit; ``None`` when absent or malformed (the documented default then holds)."""
    if not isinstance(rate_limits, list):
        return None
    for entry in rate_limits:
        if not isinstance(entry, dict) or entry.get("rateLimitType") != "REQUEST_WEIGHT":
            continue
        limit, count = entry.get("limit"), entry.get("intervalNum", 1)
        unit = INTERVAL_SECONDS.get(str(entry.get("interval")))
        valid = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (limit, count))
        if unit is not None and valid:
            return RateLimit(unit="weight", limit=limit, window_seconds=float(unit * count))
    return None


class BinanceAdapter(CcxtAdapter):
    """Binance spot (``plugin: binance``)."""

    plugin_name = "binance"
    ccxt_id = "binance"
    ccxt_options: ClassVar[Mapping[str, Any]] = {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
    }
    rest_url_keys = ("public", "private", "v1")
    max_streams_per_connection: ClassVar[int] = MAX_STREAMS_PER_CONNECTION
    """Binance allows 1024 streams per connection; more are sharded over several connections."""
    renew_after: float = RENEW_AFTER_S
    """Seconds after which a stream connection is replaced by a new one, ahead of Binance's 24-hour cut."""
    capabilities = Capabilities(
        channels=frozenset(ALL_CHANNELS),
        stream_channels=frozenset(ALL_CHANNELS),
        depth_levels=(5, 10, 20, 50, 100, 500, 1000, 5000),
        max_klines_per_request=1000,
        max_trades_per_request=1000,
        rate_limit=RateLimit(unit="weight", limit=6000, window_seconds=60.0),
        endpoint_weights=WEIGHTS,
    )

    def __init__(self, config: InstanceConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(config, clock=clock)
        self.parser = BinanceParser(self.instance)
        self.stream_stats = StreamStats()
        self._snapshot_depths: dict[str, int] = {}  # symbol -> depth its refreshes stepped up to
        self._snapshot_gate = SnapshotGate()
        self._published_limit: RateLimit | None = None
        self._books_announced = False

    @property
    def used_weight(self) -> int | None:
        """The last ``X-MBX-USED-WEIGHT-1M`` the venue reported (weight used this minute)."""
        for name, value in self.last_response_headers.items():
            if name.lower() == "x-mbx-used-weight-1m":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    @property
    def websocket_url(self) -> str:
        """Where market streams are opened (``urls.websocket`` or the live venue)."""
        return (self.config.urls.websocket or LIVE_WEBSOCKET).rstrip("/")

    # ---- markets -------------------------------------------------------------------------------
    async def load_markets(self) -> list[Market]:
        """Every spot symbol of ``GET /api/v3/exchangeInfo`` (weight 20), any status."""
        body = await self._get(self.exchange.publicGetExchangeInfo, {})
        now = self.clock.now_ms()
        markets = [self.parser.market(info, now) for info in body["symbols"]]
        self.remember_markets(markets)
        self.parser.set_markets(markets)
        self._published_limit = request_weight_limit(body.get("rateLimits"))
        return markets

    def venue_rate_limit(self) -> RateLimit | None:
        """The ``REQUEST_WEIGHT`` entry of ``exchangeInfo.rateLimits`` (6,000 a minute on spot today)."""
        return self._published_limit

    async def _get(self, endpoint: Callable[..., Awaitable[Any]], params: Mapping[str, Any]) -> Any:
        """One raw REST call; a body that is not JSON (ccxt hands back text) is a bad response."""
        body = await self.call(endpoint, dict(params))
        if not isinstance(body, dict | list):
            raise BadResponseError(f"{self.instance}: the venue sent a body that is not JSON: {body!r:.100}")
        return body

    async def _native(self, symbol: str) -> str:
        await self.ensure_markets()
        return self.market(symbol).native_id

    async def _symbols_param(self, symbols: Sequence[str]) -> dict[str, str]:
        if len(symbols) == 1:
            return {"symbol": await self._native(symbols[0])}
        if len(symbols) > LIST_LIMIT:
            await self.ensure_markets()
            for s in symbols:
                self.market(s)
            return {}
        natives = [await self._native(s) for s in symbols]
        return {"symbols": orjson.dumps(natives).decode()}

    # ---- snapshots -----------------------------------------------------------------------------
    async def fetch_ticker(self, symbol: str) -> Ticker:
        """``GET /api/v3/ticker/24hr?symbol=`` (weight 2)."""
        body = await self._get(self.exchange.publicGetTicker24hr, {"symbol": await self._native(symbol)})
        return self.parser.ticker(body, self.clock.now_ms())

    async def fetch_tickers(self, symbols: Sequence[str]) -> list[Ticker]:
        """One ``ticker/24hr`` request for all of ``symbols``."""
        if not symbols:
            return []
        body = await self._get(self.exchange.publicGetTicker24hr, await self._symbols_param(symbols))
        now = self.clock.now_ms()
        return self._pick(symbols, [self.parser.ticker(t, now) for t in _rows(body, self.parser)])

    async def fetch_quote(self, symbol: str) -> Quote:
        """``GET /api/v3/ticker/bookTicker?symbol=`` (weight 2)."""
        body = await self._get(
            self.exchange.publicGetTickerBookTicker, {"symbol": await self._native(symbol)}
        )
        return self.parser.book_ticker(body, self.clock.now_ms())

    async def fetch_quotes(self, symbols: Sequence[str]) -> list[Quote]:
        """One ``ticker/bookTicker`` request for all of ``symbols`` (weight 4)."""
        if not symbols:
            return []
        body = await self._get(self.exchange.publicGetTickerBookTicker, await self._symbols_param(symbols))
        now = self.clock.now_ms()
        return self._pick(symbols, [self.parser.book_ticker(t, now) for t in _rows(body, self.parser)])

    async def fetch_price(self, symbol: str) -> Price:
        """``GET /api/v3/ticker/price?symbol=`` (weight 2)."""
        body = await self._get(self.exchange.publicGetTickerPrice, {"symbol": await self._native(symbol)})
        return self.parser.price(body, self.clock.now_ms())

    async def fetch_prices(self, symbols: Sequence[str]) -> list[Price]:
        """One ``ticker/price`` request for all of ``symbols`` (weight 4)."""
        if not symbols:
            return []
        body = await self._get(self.exchange.publicGetTickerPrice, await self._symbols_param(symbols))
        now = self.clock.now_ms()
        return self._pick(symbols, [self.parser.price(t, now) for t in _rows(body, self.parser)])

    async def fetch_depth(self, symbol: str, levels: int) -> OrderBook:
        """``GET /api/v3/depth`` at the nearest supported limit, cut to ``levels``."""
        limit = self.capabilities.nearest_depth(levels)
        snapshot = await self._snapshot(symbol, limit)
        return self.parser.order_book(symbol, snapshot, levels, self.clock.now_ms())

    async def _snapshot(self, symbol: str, limit: int) -> DepthSnapshot:
        body = await self._get(
            self.exchange.publicGetDepth, {"symbol": await self._native(symbol), "limit": limit}
        )
        return self.parser.depth_snapshot(body, symbol)

    async def fetch_trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        """``GET /api/v3/trades`` (weight 25), oldest first."""
        limit = max(1, min(limit, self.capabilities.max_trades_per_request))
        body = await self._get(
            self.exchange.publicGetTrades, {"symbol": await self._native(symbol), "limit": limit}
        )
        now = self.clock.now_ms()
        return [self.parser.trade(symbol, t, now) for t in body]

    async def fetch_klines(
        self, symbol: str, interval: Interval, *, start_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        """``GET /api/v3/klines`` (weight 2) with quote volume and trade count, oldest first."""
        if interval not in self.capabilities.intervals:
            raise NotSupportedError(f"{self.instance}: interval {interval.value} is not served")
        params: dict[str, Any] = {
            "symbol": await self._native(symbol),
            "interval": interval.value,
            "limit": max(1, min(limit, self.capabilities.max_klines_per_request)),
        }
        if start_ms is not None:
            params["startTime"] = start_ms
        rows = await self._get(self.exchange.publicGetKlines, params)
        now = self.clock.now_ms()
        return [self.parser.kline_row(symbol, interval, row, now) for row in rows]

    @staticmethod
    def _pick(symbols: Sequence[str], records: list[R]) -> list[R]:
        wanted = set(symbols)
        return [r for r in records if r.symbol in wanted]

    # ---- streams -------------------------------------------------------------------------------
    def snapshot_limit(self) -> int:
        """REST depth limit used to seed stream books: room for ~5x the configured levels."""
        configured = self.config.options.get("snapshot_limit")
        if isinstance(configured, int) and configured in SNAPSHOT_LIMITS:
            return configured
        want = 5 * self.config.depth_levels
        return next((n for n in SNAPSHOT_LIMITS if n >= want), SNAPSHOT_LIMITS[-1])

    def snapshot_limits(self) -> list[int]:
        """Depths a stream book's snapshots may take: from :meth:`snapshot_limit` up to option
        ``snapshot_limit_max`` (default 1,000, weight 50; 5,000 weighs 250). A book whose served
        levels near its snapshot's edge is refreshed one size deeper."""
        first = self.snapshot_limit()
        configured = self.config.options.get("snapshot_limit_max")
        most = configured if isinstance(configured, int) and configured in SNAPSHOT_LIMITS else 1_000
        return [n for n in SNAPSHOT_LIMITS if first <= n <= max(first, most)]

    def book_max_levels(self) -> int:
        """Levels each side of a local book keeps at most (option ``book_max_levels``, ``0``: no
        bound); never fewer than the REST snapshot holds (see
        :data:`~exchanges.binance.levels.DEFAULT_MAX_LEVELS`)."""
        configured = self.config.options.get("book_max_levels")
        if isinstance(configured, bool) or not isinstance(configured, int):
            configured = DEFAULT_MAX_LEVELS
        if configured == 0:
            return 0
        return max(configured, self.snapshot_limits()[-1], self.config.depth_levels)

    def conflate_backlog(self) -> int:
        """Waiting frames from which a connection skips replaced quotes and tickers (see
        :data:`~exchanges.binance.streams.CONFLATE_BACKLOG`); option ``conflate_backlog``, where
        ``0`` or ``false`` keeps every frame however far behind."""
        configured = self.config.options.get("conflate_backlog")
        if configured is False:
            return 0
        if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 0:
            return configured
        return CONFLATE_BACKLOG

    def stream_shards(self, subscriptions: Sequence[Subscription]) -> list[list[Subscription]]:
        """One shard per connection of at most ``max_streams_per_connection`` streams (markets loaded)."""
        natives = self._natives(subscriptions)
        return shard_subscriptions(subscriptions, natives, self.max_streams_per_connection)

    def stream_counters(self) -> Mapping[str, int]:
        """The totals of :attr:`stream_stats` over every symbol; ``resyncs`` counts the gaps in the diffs
        and the snapshots the diffs did not bridge."""
        stats = self.stream_stats
        return {
            "resyncs": stats.resyncs.total(),
            "book_refreshes": stats.refreshes.total(),
            "malformed": stats.malformed.total(),
            "conflated": stats.conflated,
            "depth_snapshots": stats.snapshots.total(),
            "depth_snapshot_failures": stats.snapshot_failures.total(),
            "renewals": stats.renewals,
            "stale": stats.stale,
        }

    def _natives(self, subscriptions: Sequence[Subscription]) -> dict[str, str]:
        return {sub.symbol: self.market(sub.symbol).native_id for sub in subscriptions}

    async def stream(self, subscriptions: Sequence[Subscription]) -> AsyncIterator[Sequence[Record]]:
        """Stream every subscribed channel over combined websocket streams (see :mod:`.streams`)."""
        await self.ensure_markets()
        if not self._books_announced:
            self._books_announced = True
            log.info("%s: local order books %s", self.instance, _BOOKS)
        plan = plan_streams(subscriptions, self._natives(subscriptions))

        async def fetch_snapshot(symbol: str, limit: int, urgent: bool) -> DepthSnapshot:
            return await self.guarded_rest(
                "depth",
                lambda: self._snapshot(symbol, limit),
                symbol=symbol,
                weight=depth_weight(limit),
                urgent=urgent,
            )

        session = StreamSession(
            base_url=self.websocket_url,
            parser=self.parser,
            fetch_snapshot=fetch_snapshot,
            depth_levels=self.config.depth_levels,
            clock=self.clock,
            stats=self.stream_stats,
            max_streams_per_connection=self.max_streams_per_connection,
            snapshot_gate=self._snapshot_gate,
            conflate_backlog=self.conflate_backlog(),
            book_max_levels=self.book_max_levels(),
            snapshot_limits=self.snapshot_limits(),
            learned_limits=self._snapshot_depths,
            renew_after=self.renew_after,
        )
        async for batch in session.run(plan):
            yield batch


def _rows(body: Any, parser: BinanceParser) -> list[Mapping[str, Any]]:
    """A list endpoint's rows (a single object when one symbol was asked), known symbols only."""
    rows = body if isinstance(body, list) else [body]
    return [r for r in rows if isinstance(r, dict) and parser.knows(str(r.get("symbol")))]
