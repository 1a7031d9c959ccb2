"""The generic ``ccxt`` adapter: any exchange ccxt knows, chosen by ``ccxt_id`` in plugins.yaml.

REST snapshots go through :class:`~core.ccxt_adapter.CcxtAdapter` (ccxt's unified methods under its
rate limiter); :meth:`GenericCcxtAdapter.stream` uses ccxt.pro's ``watch_*`` methods where the
exchange has them. What an instance can do is derived from ccxt's ``has`` map: constructing the
adapter returns an instance of a class built once per ccxt id (``GenericCcxtAdapter.for_exchange``),
whose ``capabilities`` are that exchange's, so ``capabilities`` stays a class attribute as everywhere
else. The plugin's own class lists everything the generic adapter can ever serve.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from core.adapter import Subscription
from core.capabilities import Capabilities
from core.ccxt_adapter import CcxtAdapter
from core.ccxt_errors import ccxt_errors
from core.clock import SYSTEM_CLOCK, Clock
from core.config import InstanceConfig, VenueUrls
from core.errors import ConfigError, NotSupportedError
from core.intervals import Interval
from core.models import ALL_CHANNELS, Channel, Record

_WATCH_TO_CHANNELS: Mapping[str, tuple[Channel, ...]] = {
    "watchTicker": (Channel.TICKER, Channel.PRICE),  # many ticker streams carry no best bid/ask
    "watchBidsAsks": (Channel.QUOTE,),
    "watchOrderBook": (Channel.DEPTH,),
    "watchTrades": (Channel.TRADES,),
    "watchOHLCV": (Channel.KLINE,),
}


@dataclass(frozen=True)
class ExchangeProfile:
    """What ccxt's ``describe()`` does not say about an exchange: where it keeps the endpoints that
    ``urls.rest`` / ``urls.websocket`` replace, its candle alignment, the options it needs.

    ``rest_keys`` are ``urls['api']`` keys whose host the REST override replaces (``None``: all);
    ``websocket_paths`` are dotted paths into ``urls`` whose host the websocket URL replaces;
    ``options`` are ccxt options the exchange needs to stay on spot public data;
    ``utc_offset_ms`` is the offset its daily and longer candles open at.
    """

    rest_keys: tuple[str, ...] | None = None
    websocket_paths: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    utc_offset_ms: int = 0


PROFILES: Mapping[str, ExchangeProfile] = {
    "binance": ExchangeProfile(
        rest_keys=("public",),
        websocket_paths=("api.ws.spot",),
        options={"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False},
    ),
    "htx": ExchangeProfile(
        rest_keys=("status", "spot", "public", "v2Public"),
        websocket_paths=("api.ws.api.spot.public", "api.ws.api.spot.feed"),
        options={"fetchMarkets": {"types": {"spot": True, "linear": False, "inverse": False}}},
        utc_offset_ms=8 * 3_600_000,
    ),
}
"""Per-ccxt-id knowledge; any other exchange can be pointed anywhere with ``urls.extra``."""


class GenericCcxtAdapter(CcxtAdapter):
    """Collects from any ccxt exchange: REST polling always, ``watch_*`` streams where ccxt.pro has them."""

    plugin_name = "ccxt"
    capabilities = Capabilities(stream_channels=frozenset(ALL_CHANNELS))
    """The most the plugin can serve; each instance gets its exchange's own capabilities."""
    profile: ClassVar[ExchangeProfile] = ExchangeProfile()
    url_paths: ClassVar[frozenset[str]] = frozenset()
    """Every dotted path of a URL in the exchange's ccxt.pro ``urls`` (what ``urls.extra`` may set)."""

    def __new__(cls, config: InstanceConfig, *, clock: Clock = SYSTEM_CLOCK) -> GenericCcxtAdapter:
        chosen = cls if cls.ccxt_id is not None else cls.for_exchange(config.ccxt_id, config.name)
        return super().__new__(chosen)

    def __init__(self, config: InstanceConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(config, clock=clock)
        self._check_config()

    @classmethod
    def for_exchange(cls, ccxt_id: str | None, instance: str = "?") -> type[GenericCcxtAdapter]:
        """The adapter class of one ccxt exchange (built once, then cached)."""
        if not ccxt_id or ccxt_id not in ccxt.exchanges:
            raise ConfigError(f"{instance}: ccxt_id: unknown ccxt exchange id {ccxt_id!r}")
        return _exchange_class(ccxt_id)

    def _check_config(self) -> None:
        """Refuse, before any I/O, what this exchange cannot serve: a clear start-up error."""
        caps, config, name = self.capabilities, self.config, f"ccxt exchange {self.ccxt_id!r}"
        for channel in config.channels:
            if channel not in caps.channels:
                raise NotSupportedError(f"{self.instance}: channel {channel.value!r} is not served by {name}")
            if config.transport == "websocket" and channel not in caps.stream_channels:
                raise NotSupportedError(
                    f"{self.instance}: channel {channel.value!r}: {name} cannot stream it"
                )
        if Channel.KLINE in config.channels:
            for interval in config.intervals:
                if interval not in caps.intervals:
                    raise NotSupportedError(
                        f"{self.instance}: channel 'kline': interval {interval.value!r} not served by {name}"
                    )
        for path in config.urls.extra:
            if path not in self.url_paths:
                raise ConfigError(f"{self.instance}: urls.extra: {name} has no URL at {path!r}")

    # ---- URLs ------------------------------------------------------------------------------------
    def apply_url_overrides(self, exchange: Any, urls: VenueUrls) -> None:
        """``urls.rest`` on the profile's REST keys and the scheme, host and port of ``urls.websocket``
        on its websocket paths (ccxt's paths are kept, as for REST); then every ``urls.extra`` path
        (``api.public: http://…``) set whole, as given."""
        super().apply_url_overrides(exchange, urls)
        if urls.websocket:
            ws = urlsplit(urls.websocket)
            for path in self.profile.websocket_paths:
                _set_url(exchange.urls, path, f"{ws.scheme}://{ws.netloc}", keep_path=True)
        for path, url in urls.extra.items():
            _set_url(exchange.urls, path, url)

    # ---- streams ---------------------------------------------------------------------------------
    def stream(self, subscriptions: Sequence[Subscription]) -> AsyncIterator[Sequence[Record]]:
        """Batches of records from ccxt.pro ``watch_*`` calls, one pending watch per subscription.

        Raises :class:`NotSupportedError` at once for a channel the exchange cannot stream, and
        :class:`~core.errors.TransientError` (from the stream) when the connection drops.
        """
        for sub in subscriptions:
            if sub.channel not in self.capabilities.stream_channels:
                raise NotSupportedError(
                    f"{self.instance}: channel {sub.channel.value!r}: "
                    f"ccxt exchange {self.ccxt_id!r} has no websocket stream for it"
                )
        if not subscriptions:
            raise NotSupportedError(f"{self.instance}: nothing to stream")
        return self._stream(subscriptions)

    async def _stream(self, subscriptions: Sequence[Subscription]) -> AsyncIterator[Sequence[Record]]:
        exchange = getattr(ccxt_pro, str(self.ccxt_id))({"options": dict(self.ccxt_options)})
        exchange.number = str
        self.apply_url_overrides(exchange, self.config.urls)
        self._share_rest(exchange)
        pending: dict[asyncio.Task[list[Record]], Subscription] = {}
        try:
            for sub in subscriptions:
                pending[asyncio.ensure_future(self._watch(exchange, sub))] = sub
            while True:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                batch: list[Record] = []
                for task in done:
                    sub = pending.pop(task)
                    batch.extend(task.result())
                    pending[asyncio.ensure_future(self._watch(exchange, sub))] = sub
                if batch:
                    yield batch
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await exchange.close()

    def _share_rest(self, exchange: Any) -> None:
        """Keep the REST calls ccxt.pro makes on its own inside the instance's budget.

        Its markets are the adapter's, already loaded (not a market list per connection), and the
        order-book snapshots its ``watch_order_book`` fetches go through :meth:`guarded_rest`, as
        the adapter's own snapshots do: each costs what a ``depth:<limit>`` poll costs.
        """
        if self._exchange is not None and self._exchange.markets:
            exchange.set_markets(self._exchange.markets, self._exchange.currencies)
        fetch_order_book = exchange.fetch_order_book

        async def budgeted_order_book(symbol: str, limit: int | None = None, params: Any = None) -> Any:
            return await self.guarded_rest(
                f"depth:{limit}" if limit else "depth",
                lambda: fetch_order_book(symbol, limit, params or {}),
                symbol=symbol,
                urgent=True,  # the book is not served until its snapshot arrives
            )

        exchange.fetch_order_book = budgeted_order_book

    async def _watch(self, exchange: Any, sub: Subscription) -> list[Record]:
        """Await the next update of one subscription and normalize it."""
        symbol = sub.symbol
        with ccxt_errors(self.instance):
            if sub.channel is Channel.DEPTH:
                levels = self.config.depth_levels
                book = await exchange.watch_order_book(symbol, self.capabilities.nearest_depth(levels))
                return [self._book(symbol, book, levels)]
            if sub.channel is Channel.TRADES:
                return [self._trade(symbol, t) for t in await exchange.watch_trades(symbol)]
            if sub.channel is Channel.KLINE:
                interval = sub.interval or Interval.M1
                rows = await exchange.watch_ohlcv(symbol, interval.value)
                return [self._kline(symbol, interval, row) for row in rows]
            if sub.channel is Channel.QUOTE:
                return [self._quote(symbol, (await exchange.watch_bids_asks([symbol]))[symbol])]
            ticker = await exchange.watch_ticker(symbol)
            if sub.channel is Channel.PRICE:
                return [self._price(symbol, ticker)]
            return [self._ticker(symbol, ticker)]


@functools.cache
def _exchange_class(ccxt_id: str) -> type[GenericCcxtAdapter]:
    """Build the adapter class of ``ccxt_id``: capabilities from ccxt's and ccxt.pro's ``has``."""
    # no I/O: ccxt opens its session on the first request; ccxt.pro lacks some exchanges
    exchange = getattr(ccxt_pro, ccxt_id, getattr(ccxt_async, ccxt_id))()
    has = exchange.has if ccxt_id in ccxt_pro.exchanges else {}
    streamed = {c for name, chans in _WATCH_TO_CHANNELS.items() if has.get(name) for c in chans}
    rest = GenericCcxtAdapter.capabilities_for(ccxt_id)
    profile = PROFILES.get(ccxt_id, ExchangeProfile())
    attributes = {
        "__module__": __name__,
        "__qualname__": f"GenericCcxtAdapter[{ccxt_id}]",
        "__doc__": f"The generic ccxt adapter bound to ccxt exchange {ccxt_id!r}.",
        "ccxt_id": ccxt_id,
        "ccxt_options": dict(profile.options),
        "rest_url_keys": profile.rest_keys,
        "profile": profile,
        "url_paths": frozenset(_url_paths(exchange.urls)),
        "capabilities": rest.model_copy(
            update={
                "stream_channels": frozenset(streamed & rest.channels),
                "utc_offset_ms": profile.utc_offset_ms,
            }
        ),
    }
    return type(f"GenericCcxtAdapter[{ccxt_id}]", (GenericCcxtAdapter,), attributes)


def _set_url(urls: Any, path: str, url: str, *, keep_path: bool = False) -> None:
    """Replace the URL at a dotted ``path`` of ccxt's ``urls`` (absent in REST-only ccxt classes)."""
    *parents, leaf = path.split(".")
    node = urls
    for key in parents:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get(leaf), str):
        node[leaf] = url + urlsplit(node[leaf]).path if keep_path else url


def _url_paths(node: Any, path: tuple[str, ...] = ()) -> list[str]:
    if isinstance(node, str):
        return [".".join(path)]
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _url_paths(value, (*path, str(key)))]
    return []
