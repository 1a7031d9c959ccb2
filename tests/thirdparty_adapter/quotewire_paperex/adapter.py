"""A REST-only quotewire adapter for Paperex (protocol in :mod:`quotewire_paperex.venue`)."""

from __future__ import annotations

from typing import Any

import aiohttp

from core.adapter import ExchangeAdapter
from core.capabilities import Capabilities, RateLimit
from core.errors import BadResponseError, PluginError, RateLimitedError, TransientError, UnknownSymbolError
from core.intervals import Interval
from core.models import Kline, Market, OrderBook, Price, Quote, Ticker, Trade

HTTP_NOT_FOUND, HTTP_TOO_MANY = 404, 429


class PaperexAdapter(ExchangeAdapter):
    """Paperex over REST: six candle intervals, books up to 500 levels, 1200 requests a minute."""

    plugin_name = "paperex"
    capabilities = Capabilities(
        intervals=(Interval.M1, Interval.M5, Interval.M15, Interval.H1, Interval.D1, Interval.W1),
        depth_levels=(5, 20, 100, 500),
        max_klines_per_request=1000,
        max_trades_per_request=1000,
        rate_limit=RateLimit(unit="requests", limit=1200),
    )

    _session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            base_url=self.config.urls.rest or "https://api.paperex.example",
            timeout=aiohttp.ClientTimeout(total=10),
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _get(self, path: str, symbol: str | None = None, **params: Any) -> Any:
        """GET one endpoint; every failure becomes a quotewire error naming the instance."""
        if self._session is None:
            raise PluginError(f"{self.instance}: the adapter is not open (use 'async with')")
        if symbol is not None:
            path = f"/v1/markets/{symbol.replace('/', '_')}/{path}"
        query = {k: str(v) for k, v in params.items() if v is not None}
        try:
            async with self._session.get(path, params=query) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"{self.instance}: GET {path}: {exc!r}") from exc
        except ValueError as exc:
            raise BadResponseError(f"{self.instance}: GET {path}: not JSON") from exc
        if response.status == HTTP_NOT_FOUND and symbol is not None:
            raise UnknownSymbolError(f"{self.instance}: unknown symbol {symbol!r}", symbol=symbol)
        if response.status == HTTP_TOO_MANY:
            raise RateLimitedError(f"{self.instance}: GET {path}: rate limited")
        if response.status != 200:
            raise BadResponseError(f"{self.instance}: GET {path}: HTTP {response.status}: {body}")
        return body

    def _now(self) -> int:
        return self.clock.now_ms()

    async def load_markets(self) -> list[Market]:
        body, now = await self._get("/v1/markets"), self._now()
        return [
            Market(
                instance=self.instance,
                symbol=f"{m['base']}/{m['quote']}",
                native_id=m["id"],
                base=m["base"],
                quote=m["quote"],
                status="trading" if m["open"] else "halted",
                price_increment=m["tick"],
                amount_increment=m["lot"],
                price_precision=len(m["tick"].partition(".")[2]),
                amount_precision=len(m["lot"].partition(".")[2]),
                min_amount=m["min_size"],
                min_notional=m["min_value"],
                receive_time=now,
            )
            for m in body["markets"]
        ]

    async def fetch_ticker(self, symbol: str) -> Ticker:
        t = await self._get("ticker", symbol)
        fields = ("open", "high", "low", "last", "volume", "bid", "bid_size", "ask", "ask_size")
        return Ticker(
            instance=self.instance,
            symbol=symbol,
            event_time=t["ts"],
            receive_time=self._now(),
            quote_volume=t["value"],
            **{k: t[k] for k in fields},
        )

    async def fetch_quote(self, symbol: str) -> Quote:
        t = await self.fetch_ticker(symbol)
        return Quote(
            **t.model_dump(include={"instance", "symbol", "event_time", "receive_time"}),
            **t.model_dump(include={"bid", "bid_size", "ask", "ask_size"}),
        )

    async def fetch_price(self, symbol: str) -> Price:
        t = await self.fetch_ticker(symbol)
        return Price(
            **t.model_dump(include={"instance", "symbol", "event_time", "receive_time"}), price=t.last
        )

    async def fetch_depth(self, symbol: str, levels: int) -> OrderBook:
        b = await self._get("book", symbol, depth=self.capabilities.nearest_depth(levels))
        return OrderBook(
            instance=self.instance,
            symbol=symbol,
            event_time=b["ts"],
            receive_time=self._now(),
            bids=b["bids"][:levels],
            asks=b["asks"][:levels],
            sequence=b["seq"],
            depth=levels,
        )

    async def fetch_trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        body, now = await self._get("trades", symbol, limit=limit), self._now()
        return [
            Trade(instance=self.instance, symbol=symbol, event_time=t["ts"], receive_time=now, id=t["id"],
                  price=t["price"], amount=t["size"], side=t["side"])
            for t in reversed(body["trades"])
        ]  # fmt: skip

    async def fetch_klines(
        self, symbol: str, interval: Interval, *, start_ms: int | None = None, limit: int = 500
    ) -> list[Kline]:
        body = await self._get("candles", symbol, interval=interval.value, since=start_ms, limit=limit)
        now, klines = self._now(), []
        for opened, o, h, low, c, volume in body["candles"]:
            close_time = interval.close_time(opened)
            klines.append(
                Kline(instance=self.instance, symbol=symbol, event_time=None, receive_time=now,
                      interval=interval, open_time=opened, close_time=close_time, open=o, high=h,
                      low=low, close=c, volume=volume, closed=close_time < now)
            )  # fmt: skip
        return klines
