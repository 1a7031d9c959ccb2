"""The normalized data model: one shape for every exchange.

Every record carries the exchange *instance* name (``binance``, ``binance-sim`` …), the unified
``BASE/QUOTE`` symbol, the exchange's event time and our receive time (both Unix milliseconds), and a
``channel`` tag that says what it is. Prices and amounts are :data:`~core.decimals.ExactDecimal`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.decimals import ExactDecimal
from core.intervals import Interval


class Channel(StrEnum):
    """The kinds of market data quotewire collects per symbol."""

    TICKER = "ticker"
    QUOTE = "quote"
    PRICE = "price"
    DEPTH = "depth"
    TRADES = "trades"
    KLINE = "kline"


ALL_CHANNELS: tuple[Channel, ...] = tuple(Channel)


class Frozen(BaseModel):
    """Base for immutable models that reject unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Market(Frozen):
    """A tradable pair as the instance lists it."""

    instance: str
    symbol: str = Field(description="unified BASE/QUOTE", examples=["BTC/USDT"])
    native_id: str = Field(description="the venue's own id", examples=["BTCUSDT", "btcusdt"])
    base: str
    quote: str
    status: Literal["trading", "halted", "delisted"] = "trading"
    price_increment: ExactDecimal | None = Field(None, description="tick size")
    amount_increment: ExactDecimal | None = Field(None, description="lot step size")
    price_precision: int | None = Field(None, description="decimal places of a price")
    amount_precision: int | None = Field(None, description="decimal places of an amount")
    min_amount: ExactDecimal | None = None
    min_notional: ExactDecimal | None = Field(None, description="minimum price x amount of an order")
    receive_time: int


class Record(Frozen):
    """Fields every market-data record carries."""

    instance: str
    symbol: str = Field(description="unified BASE/QUOTE", examples=["BTC/USDT"])
    event_time: int | None = Field(description="exchange event time, Unix ms, when the venue sent one")
    receive_time: int = Field(description="when quotewire received it, Unix ms")


class Ticker(Record):
    """Rolling 24-hour statistics."""

    channel: Literal[Channel.TICKER] = Channel.TICKER
    open: ExactDecimal | None = None
    high: ExactDecimal | None = None
    low: ExactDecimal | None = None
    last: ExactDecimal
    volume: ExactDecimal | None = Field(None, description="base-asset volume")
    quote_volume: ExactDecimal | None = None
    change: ExactDecimal | None = None
    change_percent: ExactDecimal | None = None
    bid: ExactDecimal | None = None
    bid_size: ExactDecimal | None = None
    ask: ExactDecimal | None = None
    ask_size: ExactDecimal | None = None


class Quote(Record):
    """Best bid and best ask."""

    channel: Literal[Channel.QUOTE] = Channel.QUOTE
    bid: ExactDecimal
    bid_size: ExactDecimal
    ask: ExactDecimal
    ask_size: ExactDecimal
    sequence: int | None = Field(
        None,
        description="the venue's order-book update id of this quote, where it counts the same updates"
        " as the depth's sequence (Binance's bookTicker u)",
    )


class Price(Record):
    """The latest traded price."""

    channel: Literal[Channel.PRICE] = Channel.PRICE
    price: ExactDecimal


BookLevel = tuple[ExactDecimal, ExactDecimal]
"""``(price, amount)``."""


class CheckedLevels(list[BookLevel]):
    """Book levels an adapter's local book vouches for: every price and amount positive.

    It encodes, compares and validates as a plain list; consumers that would otherwise check every
    level (the arbitrage engine drops zero levels) may skip that for this type. Only code that has
    made the guarantee (a parser that refuses non-positive prices and negative amounts, a book
    that deletes zero-amount levels) may build one.
    """

    __slots__ = ()


class EncodedLevels(CheckedLevels):
    """:class:`CheckedLevels` that also carry their JSON, exactly as the store's encoder writes them.

    A book kept as the venue's text (the Binance native book) writes this JSON by copying text;
    the encoder then splices it in instead of formatting every decimal again. Whoever builds one
    sets ``json`` at once and never modifies either afterwards.
    """

    __slots__ = ("json",)
    json: bytes


class OrderBook(Record):
    """The top ``depth`` levels of the book, bids descending and asks ascending."""

    channel: Literal[Channel.DEPTH] = Channel.DEPTH
    bids: list[BookLevel]
    asks: list[BookLevel]
    sequence: int | None = Field(None, description="the venue's update id of this state")
    depth: int = Field(description="how many levels per side were requested")


class Trade(Record):
    """One public trade; ``side`` is the taker's."""

    channel: Literal[Channel.TRADES] = Channel.TRADES
    id: str
    price: ExactDecimal
    amount: ExactDecimal
    side: Literal["buy", "sell"]


class Kline(Record):
    """One candle; ``closed`` is false while the interval is still running."""

    channel: Literal[Channel.KLINE] = Channel.KLINE
    interval: Interval
    open_time: int
    close_time: int
    open: ExactDecimal
    high: ExactDecimal
    low: ExactDecimal
    close: ExactDecimal
    volume: ExactDecimal = Field(description="base-asset volume")
    quote_volume: ExactDecimal | None = None
    trades: int | None = Field(None, description="number of trades")
    closed: bool


MarketRecord = Annotated[Ticker | Quote | Price | OrderBook | Trade | Kline, Field(discriminator="channel")]
"""Any market-data record, discriminated by its ``channel`` tag."""

RECORD_TYPES: dict[Channel, type[Record]] = {
    Channel.TICKER: Ticker,
    Channel.QUOTE: Quote,
    Channel.PRICE: Price,
    Channel.DEPTH: OrderBook,
    Channel.TRADES: Trade,
    Channel.KLINE: Kline,
}
