"""Binance spot JSON shapes of engine state: REST bodies and websocket event payloads.

Prices and quantities are strings with 8 decimals (``"43519.34000000"``), ids and times are ints,
exactly as ``/api/v3`` and the market streams send them (compare ``shared/fixtures/binance``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.sim import BookSnapshot, Candle, MarketSpec, MarketState, Stats, Trade, fmt
from core.sim.units import fmt_trim

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
STP_MODES = ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]


def native(spec: MarketSpec) -> str:
    """The Binance symbol id, ``BTCUSDT``."""
    return spec.symbol


def symbol_info(spec: MarketSpec) -> dict[str, Any]:
    """One ``exchangeInfo.symbols`` entry (current schema, NOTIONAL filter)."""
    return {
        "symbol": spec.symbol,
        "status": spec.status,
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": spec.quote in {"USDT", "BTC"},
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(spec.min_price),
                "maxPrice": fmt(spec.max_price),
                "tickSize": fmt(spec.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(spec.min_qty),
                "maxQty": fmt(spec.max_qty),
                "stepSize": fmt(spec.step),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": fmt(spec.max_qty // 100),
                "stepSize": "0.00000000",
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(spec.min_notional),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"] if spec.quote in {"USDT", "BTC"} else ["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": STP_MODES,
    }


def permissions_of(spec: MarketSpec) -> set[str]:
    """The permissions of the symbol's permission set."""
    return {"SPOT", "MARGIN"} if spec.quote in {"USDT", "BTC"} else {"SPOT"}


def rate_limits(weight_limit: int) -> list[dict[str, Any]]:
    """The ``rateLimits`` array (REQUEST_WEIGHT per minute as configured)."""
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
    ]


def levels(side: Sequence[tuple[int, int]]) -> list[list[str]]:
    """``[[price, qty], …]`` as strings."""
    return [[fmt(p), fmt(q)] for p, q in side]


def depth(snapshot: BookSnapshot) -> dict[str, Any]:
    """``GET /api/v3/depth`` body; also the payload of ``<symbol>@depth<N>``."""
    return {
        "lastUpdateId": snapshot.last_update_id,
        "bids": levels(snapshot.bids),
        "asks": levels(snapshot.asks),
    }


def rest_trade(trade: Trade) -> dict[str, Any]:
    """One ``GET /api/v3/trades`` entry."""
    return {
        "id": trade.trade_id,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt_trim(trade.quote_qty),
        "time": trade.time_ms,
        "isBuyerMaker": trade.buyer_maker,
        "isBestMatch": True,
    }


def rest_agg_trade(trade: Trade) -> dict[str, Any]:
    """One ``GET /api/v3/aggTrades`` entry (each engine fill is its own aggregate)."""
    return {
        "a": trade.agg_id,
        "p": fmt(trade.price),
        "q": fmt(trade.qty),
        "f": trade.trade_id,
        "l": trade.trade_id,
        "T": trade.time_ms,
        "m": trade.buyer_maker,
        "M": True,
    }


def kline_row(candle: Candle) -> list[Any]:
    """One ``GET /api/v3/klines`` row."""
    return [
        candle.open_time,
        fmt(candle.open),
        fmt(candle.high),
        fmt(candle.low),
        fmt(candle.close),
        fmt(candle.volume),
        candle.close_time,
        fmt(candle.quote_volume),
        candle.trades,
        fmt(candle.taker_base),
        fmt(candle.taker_quote),
        "0",
    ]


def _book_top(market: MarketState) -> tuple[str, str, str, str]:
    bid, bid_qty, ask, ask_qty = market.book.top()  # zeros for an empty side render "0.00000000"
    return fmt(bid), fmt(bid_qty), fmt(ask), fmt(ask_qty)


def ticker_full(market: MarketState, stats: Stats) -> dict[str, Any]:
    """``GET /api/v3/ticker/24hr`` (type FULL) for one symbol."""
    bid, bid_qty, ask, ask_qty = _book_top(market)
    return {
        "symbol": market.spec.symbol,
        "priceChange": fmt(stats.change),
        "priceChangePercent": stats.change_percent(),
        "weightedAvgPrice": fmt(stats.weighted_avg),
        "prevClosePrice": fmt(stats.open),
        "lastPrice": fmt(stats.last),
        "lastQty": fmt(stats.last_qty),
        "bidPrice": bid,
        "bidQty": bid_qty,
        "askPrice": ask,
        "askQty": ask_qty,
        "openPrice": fmt(stats.open),
        "highPrice": fmt(stats.high),
        "lowPrice": fmt(stats.low),
        "volume": fmt(stats.volume),
        "quoteVolume": fmt(stats.quote_volume),
        "openTime": stats.open_time,
        "closeTime": stats.close_time,
        "firstId": stats.first_id,
        "lastId": stats.last_id,
        "count": stats.count,
    }


def ticker_mini(market: MarketState, stats: Stats) -> dict[str, Any]:
    """``GET /api/v3/ticker/24hr`` (type MINI) for one symbol."""
    return {
        "symbol": market.spec.symbol,
        "openPrice": fmt(stats.open),
        "highPrice": fmt(stats.high),
        "lowPrice": fmt(stats.low),
        "lastPrice": fmt(stats.last),
        "volume": fmt(stats.volume),
        "quoteVolume": fmt(stats.quote_volume),
        "openTime": stats.open_time,
        "closeTime": stats.close_time,
        "firstId": stats.first_id,
        "lastId": stats.last_id,
        "count": stats.count,
    }


def book_ticker(market: MarketState) -> dict[str, Any]:
    """``GET /api/v3/ticker/bookTicker`` for one symbol."""
    bid, bid_qty, ask, ask_qty = _book_top(market)
    return {
        "symbol": market.spec.symbol,
        "bidPrice": bid,
        "bidQty": bid_qty,
        "askPrice": ask,
        "askQty": ask_qty,
    }


# ---- websocket payloads ------------------------------------------------------------------------
def ws_trade(symbol: str, trade: Trade, event_ms: int) -> dict[str, Any]:
    """``<symbol>@trade``."""
    return {
        "e": "trade",
        "E": event_ms,
        "s": symbol,
        "t": trade.trade_id,
        "p": fmt(trade.price),
        "q": fmt(trade.qty),
        "T": trade.time_ms,
        "m": trade.buyer_maker,
        "M": True,
    }


def ws_agg_trade(symbol: str, trade: Trade, event_ms: int) -> dict[str, Any]:
    """``<symbol>@aggTrade``."""
    return {
        "e": "aggTrade",
        "E": event_ms,
        "s": symbol,
        "a": trade.agg_id,
        "p": fmt(trade.price),
        "q": fmt(trade.qty),
        "f": trade.trade_id,
        "l": trade.trade_id,
        "T": trade.time_ms,
        "m": trade.buyer_maker,
        "M": True,
    }


def ws_book_ticker(market: MarketState) -> dict[str, Any]:
    """``<symbol>@bookTicker``."""
    bid, bid_qty, ask, ask_qty = _book_top(market)
    return {"u": market.update_id, "s": market.spec.symbol, "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}


def ws_depth_update(  # noqa: PLR0917 - one positional per Binance field
    symbol: str,
    first_id: int,
    last_id: int,
    bids: Sequence[tuple[int, int]],
    asks: Sequence[tuple[int, int]],
    event_ms: int,
) -> dict[str, Any]:
    """``<symbol>@depth`` / ``@depth@100ms`` diff event."""
    return {
        "e": "depthUpdate",
        "E": event_ms,
        "s": symbol,
        "U": first_id,
        "u": last_id,
        "b": levels(bids),
        "a": levels(asks),
    }


def ws_kline(symbol: str, candle: Candle, closed: bool, event_ms: int) -> dict[str, Any]:
    """``<symbol>@kline_<interval>``."""
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": candle.open_time,
            "T": candle.close_time,
            "s": symbol,
            "i": candle.interval.value,
            "f": candle.first_id,
            "L": candle.last_id,
            "o": fmt(candle.open),
            "c": fmt(candle.close),
            "h": fmt(candle.high),
            "l": fmt(candle.low),
            "v": fmt(candle.volume),
            "n": candle.trades,
            "x": closed,
            "q": fmt(candle.quote_volume),
            "V": fmt(candle.taker_base),
            "Q": fmt(candle.taker_quote),
            "B": "0",
        },
    }


def ws_ticker(market: MarketState, stats: Stats, event_ms: int) -> dict[str, Any]:
    """``<symbol>@ticker`` (24hrTicker)."""
    bid, bid_qty, ask, ask_qty = _book_top(market)
    return {
        "e": "24hrTicker",
        "E": event_ms,
        "s": market.spec.symbol,
        "p": fmt(stats.change),
        "P": stats.change_percent(),
        "w": fmt(stats.weighted_avg),
        "x": fmt(stats.open),
        "c": fmt(stats.last),
        "Q": fmt(stats.last_qty),
        "b": bid,
        "B": bid_qty,
        "a": ask,
        "A": ask_qty,
        "o": fmt(stats.open),
        "h": fmt(stats.high),
        "l": fmt(stats.low),
        "v": fmt(stats.volume),
        "q": fmt(stats.quote_volume),
        "O": stats.open_time,
        "C": stats.close_time,
        "F": stats.first_id,
        "L": stats.last_id,
        "n": stats.count,
    }


def ws_mini_ticker(market: MarketState, stats: Stats, event_ms: int) -> dict[str, Any]:
    """``<symbol>@miniTicker`` and the entries of ``!miniTicker@arr``."""
    return {
        "e": "24hrMiniTicker",
        "E": event_ms,
        "s": market.spec.symbol,
        "c": fmt(stats.last),
        "o": fmt(stats.open),
        "h": fmt(stats.high),
        "l": fmt(stats.low),
        "v": fmt(stats.volume),
        "q": fmt(stats.quote_volume),
    }


def ws_server_shutdown(event_ms: int) -> dict[str, Any]:
    """The ``serverShutdown`` event (stream name ``!serverShutdown`` on combined connections)."""
    return {"e": "serverShutdown", "E": event_ms}
