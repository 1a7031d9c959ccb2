"""Response models: they document the API (OpenAPI) and pin every answer's shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.intervals import Interval
from core.models import Kline, Market, OrderBook, Price, Quote, Ticker, Trade

_INSTANCE = Field(description="the instance the data comes from", examples=["binance"])


class Freshness(BaseModel):
    """Where an answer comes from and how old it is."""

    source: str = _INSTANCE
    symbol: str = Field(description="unified BASE/QUOTE", examples=["BTC/USDT"])
    event_time: int | None = Field(description="exchange event time, Unix ms", examples=[1700000000000])
    receive_time: int | None = Field(
        description="when quotewire received it, Unix ms", examples=[1700000000003]
    )
    age_ms: int | None = Field(description="milliseconds since receive_time", examples=[120])
    stale: bool = Field(
        description="true when age_ms exceeds the configured stale_after, when the data reached the"
        " collector more than stale_after after its event_time (it lags the market), or when there is no data"
    )


class TickerEnvelope(Freshness):
    data: Ticker


class QuoteEnvelope(Freshness):
    data: Quote


class PriceEnvelope(Freshness):
    data: Price


class DepthEnvelope(Freshness):
    data: OrderBook


class TradesPage(Freshness):
    """Trades newest first; pass ``next_cursor`` as ``cursor`` for older ones."""

    data: list[Trade]
    next_cursor: str | None = Field(description="null on the last page", examples=["1700000000000-0"])


class KlinesPage(Freshness):
    """Candles newest first; pass ``next_cursor`` (an open time) as ``cursor`` for older ones."""

    interval: Interval
    data: list[Kline]
    next_cursor: int | None = Field(description="null on the last page", examples=[1699999940000])


class BulkTickers(BaseModel):
    source: str = _INSTANCE
    data: list[TickerEnvelope]
    missing: list[str] = Field(description="asked-for symbols with nothing stored yet")


class BulkQuotes(BaseModel):
    source: str = _INSTANCE
    data: list[QuoteEnvelope]
    missing: list[str] = Field(description="asked-for symbols with nothing stored yet")


class BulkPrices(BaseModel):
    source: str = _INSTANCE
    data: list[PriceEnvelope]
    missing: list[str] = Field(description="asked-for symbols with nothing stored yet")


class BestSide(BaseModel):
    """The best price of one side over every instance."""

    instance: str = _INSTANCE
    price: str = Field(examples=["43210.12000000"])
    size: str = Field(examples=["0.50000000"])
    event_time: int | None
    receive_time: int
    age_ms: int
    stale: bool


class CrossQuote(BaseModel):
    """Best bid and best ask of one symbol across instances (fresh quotes preferred)."""

    symbol: str = Field(examples=["BTC/USDT"])
    best_bid: BestSide | None
    best_ask: BestSide | None
    quotes: list[QuoteEnvelope]


class ExchangeInfo(BaseModel):
    """One instance, its registry metadata and a freshness summary of its streams."""

    name: str = Field(examples=["binance"])
    meta: dict[str, Any] = Field(examples=[{"plugin": "binance", "simulated": False}])
    markets: int = Field(description="markets stored")
    streams: int = Field(description="symbol/channel streams with data")
    stale_streams: int
    receive_time: int | None = Field(description="newest receive time over all streams")
    age_ms: int | None
    stale: bool
    counters: dict[str, int] = Field(
        description="the collector's counters since the store was created (what each counts: "
        "core.collector.metrics.COUNTER_DOCS)",
        examples=[{"messages": 1200, "records": 9800, "reconnects": 0, "resyncs": 2, "rest_weight": 560}],
    )


class ExchangeList(BaseModel):
    data: list[ExchangeInfo]


class MarketList(BaseModel):
    source: str = _INSTANCE
    data: list[Market]


class LegacyCandle(BaseModel):
    """One candle of the legacy ``/GetData/`` answer (decimals as exact strings)."""

    id: int = Field(description="open time, Unix seconds", examples=[1700000000])
    open: str = Field(examples=["43000.00000000"])
    close: str = Field(examples=["43210.12000000"])
    low: str = Field(examples=["42900.00000000"])
    high: str = Field(examples=["43300.00000000"])
    amount: str = Field(description="base-asset volume", examples=["12.34500000"])
    vol: str | None = Field(description="quote-asset volume", examples=["533333.10000000"])
    count: int | None = Field(description="number of trades", examples=[321])


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"])
    redis: bool
    instances: dict[str, int | None] = Field(description="instance → age (ms) of its newest data")
