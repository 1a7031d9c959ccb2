"""HTX payloads (decoded by :func:`exchanges.huobi.codec.loads`) to normalized records.

Every function takes the instance name, the unified symbol and the receive time, so the same parser
serves REST and websocket messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from core.decimals import to_decimal
from core.errors import BadResponseError, UnknownSymbolError
from core.intervals import Interval
from core.models import BookLevel, Kline, Price, Quote, Ticker, Trade

PERIODS: Mapping[Interval, str] = {
    Interval.M1: "1min",
    Interval.M5: "5min",
    Interval.M15: "15min",
    Interval.M30: "30min",
    Interval.H1: "60min",
    Interval.D1: "1day",
    Interval.W1: "1week",
    Interval.MO1: "1mon",
}
"""HTX ``period`` names of the eight intervals."""
INTERVALS: Mapping[str, Interval] = {v: k for k, v in PERIODS.items()}
UTC8_MS = 8 * 3_600_000
"""HTX opens 1day, 1week and 1mon candles at midnight UTC+8."""
SYMBOL_ERRORS = frozenset({"invalid symbol", "the symbol is invalid"})


def check(payload: Any, instance: str, symbol: str = "") -> Mapping[str, Any]:
    """The payload when it is an ``ok`` envelope; map an error envelope to a quotewire error.

    ``{"status":"error","err-code":"invalid-parameter","err-msg":"invalid symbol"}`` and
    ``{"status":"error","err-code":"base-symbol-error",…}`` raise :class:`UnknownSymbolError`;
    every other error envelope or shape raises :class:`BadResponseError`.
    """
    if not isinstance(payload, Mapping):
        raise BadResponseError(f"{instance}: expected a JSON object, got {type(payload).__name__}")
    if payload.get("status") == "error":
        code, message = str(payload.get("err-code")), str(payload.get("err-msg"))
        if code == "base-symbol-error" or message.lower() in SYMBOL_ERRORS:
            raise UnknownSymbolError(f"{instance}: {symbol}: {code}: {message}", symbol=symbol)
        raise BadResponseError(f"{instance}: {symbol}: {code}: {message}")
    return payload


def _tick(payload: Mapping[str, Any], instance: str) -> Mapping[str, Any]:
    tick = payload.get("tick")
    if not isinstance(tick, Mapping):
        raise BadResponseError(f"{instance}: message without a tick: {str(payload)[:200]}")
    return tick


def ticker(payload: Mapping[str, Any], *, instance: str, symbol: str, receive_time: int) -> Ticker:
    """``market.$symbol.detail`` (or ``/market/detail[/merged]``) to a 24h :class:`Ticker`.

    Raw::

        {"ch": "market.btcusdt.detail", "ts": 1494497082831, "tick": {"amount": 12224.2922,
         "open": 9790.52, "close": 10195.00, "high": 10300.00, "id": 1494496390, "count": 15195,
         "low": 9657.00, "vol": 121906001.754751}}
    """
    tick = _tick(payload, instance)
    bid, ask = tick.get("bid") or (None, None), tick.get("ask") or (None, None)
    try:
        opened, last = tick.get("open"), tick["close"]
        change = last - opened if opened is not None else None
        return Ticker(
            instance=instance,
            symbol=symbol,
            event_time=payload.get("ts"),
            receive_time=receive_time,
            open=opened,
            high=tick.get("high"),
            low=tick.get("low"),
            last=last,
            volume=tick.get("amount"),
            quote_volume=tick.get("vol"),
            change=change,
            change_percent=(change * 100 / opened).quantize(Decimal("0.001"))
            if change is not None and opened
            else None,
            bid=bid[0],
            bid_size=bid[1],
            ask=ask[0],
            ask_size=ask[1],
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise BadResponseError(f"{instance}: {symbol}: bad detail tick: {exc}") from exc


def quote(payload: Mapping[str, Any], *, instance: str, symbol: str, receive_time: int) -> Quote:
    """``market.$symbol.bbo`` to a :class:`Quote`.

    Raw::

        {"ch": "market.btcusdt.bbo", "ts": 1671941599613, "tick": {"seqId": 161499562790,
         "ask": 16829.51, "askSize": 0.707776, "bid": 16829.5, "bidSize": 1.685945,
         "quoteTime": 1671941599612, "symbol": "btcusdt"}}
    """
    tick = _tick(payload, instance)
    try:
        return Quote(
            instance=instance,
            symbol=symbol,
            event_time=tick.get("quoteTime", payload.get("ts")),
            receive_time=receive_time,
            bid=tick["bid"],
            bid_size=tick["bidSize"],
            ask=tick["ask"],
            ask_size=tick["askSize"],
        )
    except (KeyError, ValueError) as exc:
        raise BadResponseError(f"{instance}: {symbol}: bad bbo tick: {exc}") from exc


def trades(payload: Mapping[str, Any], *, instance: str, symbol: str, receive_time: int) -> list[Trade]:
    """``market.$symbol.trade.detail`` (or ``/market/trade``) to trades, oldest first.

    Raw (HTX lists fills newest first; REST spells ``tradeId`` as ``trade-id``)::

        {"ch": "market.zeneth.trade.detail", "ts": 1618678006267, "tick": {"id": 100373972746,
         "ts": 1618678006262, "data": [{"id": 100373972746255757500235867, "ts": 1618678006262,
         "tradeId": 100039973212, "amount": 7.2, "price": 0.051598, "direction": "sell"}, …]}}
    """
    return trade_group(_tick(payload, instance), instance=instance, symbol=symbol, receive_time=receive_time)


def trade_group(tick: Mapping[str, Any], *, instance: str, symbol: str, receive_time: int) -> list[Trade]:
    """One ``{"id", "ts", "data": [fills]}`` group to trades, oldest first."""
    try:
        return [
            Trade(
                instance=instance,
                symbol=symbol,
                event_time=fill["ts"],
                receive_time=receive_time,
                id=str(fill.get("tradeId", fill.get("trade-id", fill["id"]))),
                price=fill["price"],
                amount=fill["amount"],
                side="sell" if fill["direction"] == "sell" else "buy",
            )
            for fill in reversed(tick["data"])
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise BadResponseError(f"{instance}: {symbol}: bad trade tick: {exc}") from exc


def last_price(found: Sequence[Trade]) -> Price:
    """The :class:`Price` of the newest of ``found`` (which must not be empty)."""
    newest = found[-1]
    return Price(
        instance=newest.instance,
        symbol=newest.symbol,
        event_time=newest.event_time,
        receive_time=newest.receive_time,
        price=newest.price,
    )


def kline(
    tick: Mapping[str, Any],
    *,
    instance: str,
    symbol: str,
    interval: Interval,
    receive_time: int,
    event_time: int | None = None,
    closed: bool | None = None,
) -> Kline:
    """One candle (``id`` = open time in seconds, ``amount`` base, ``vol`` quote volume).

    Raw::

        {"id": 1629769200, "open": 49056.37, "close": 49025.51, "low": 49022.86,
         "high": 49056.38, "amount": 3.946281917950917, "vol": 193489.67275732, "count": 196}

    ``closed`` defaults to whether the candle's close time is before ``receive_time``.
    """
    try:
        open_time = int(tick["id"]) * 1000
        close_time = interval.close_time(open_time, UTC8_MS)
        return Kline(
            instance=instance,
            symbol=symbol,
            event_time=event_time,
            receive_time=receive_time,
            interval=interval,
            open_time=open_time,
            close_time=close_time,
            open=tick["open"],
            high=tick["high"],
            low=tick["low"],
            close=tick["close"],
            volume=tick["amount"],
            quote_volume=tick.get("vol"),
            trades=tick.get("count"),
            closed=close_time < receive_time if closed is None else closed,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadResponseError(f"{instance}: {symbol}: bad kline: {exc}") from exc


def klines(
    payload: Mapping[str, Any], *, instance: str, symbol: str, interval: Interval, receive_time: int
) -> list[Kline]:
    """``/market/history/kline`` or ``/market/history/candles`` (newest first) to candles, oldest first."""
    data = payload.get("data")
    if not isinstance(data, list):
        raise BadResponseError(f"{instance}: {symbol}: kline reply without data")
    rows = [
        kline(t, instance=instance, symbol=symbol, interval=interval, receive_time=receive_time) for t in data
    ]
    return sorted(rows, key=lambda k: k.open_time)


def levels(rows: Any, instance: str) -> list[BookLevel]:
    """``[[price, amount], …]`` to exact levels."""
    try:
        return [(to_decimal(p), to_decimal(a)) for p, a in rows]
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise BadResponseError(f"{instance}: bad book levels: {exc}") from exc
