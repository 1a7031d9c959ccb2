"""HTX spot JSON shapes of engine state: REST envelopes, ``tick`` bodies and reference data.

HTX sends prices and amounts as JSON *numbers* (IEEE doubles printed shortest-first: ``49820.92``,
``1.82E-4``), ids and times as ints, symbols lower-case (``btcusdt``). Engine units are rendered
through their exact decimal text into a float, whose shortest ``repr`` is that same text for every
value with up to 15-17 significant digits, as HTX's own doubles are (compare ``shared/fixtures/htx``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from core.intervals import Interval
from core.sim import BookSnapshot, Candle, Level, MarketSpec, MarketState, Stats, Trade
from core.sim.units import fmt_trim

PERIODS: dict[str, Interval] = {
    "1min": Interval.M1,
    "5min": Interval.M5,
    "15min": Interval.M15,
    "30min": Interval.M30,
    "60min": Interval.H1,
    "1day": Interval.D1,
    "1week": Interval.W1,
    "1mon": Interval.MO1,
}
"""HTX period names of the eight intervals (HTX also has ``4hour`` and ``1year``, not simulated)."""


def num(units: int) -> float:
    """Engine units as the JSON number HTX would send."""
    return float(fmt_trim(units))


def native(spec: MarketSpec) -> str:
    """The HTX symbol id, ``btcusdt``."""
    return spec.symbol.lower()


def ok(ch: str | None, ts: int, **body: Any) -> dict[str, Any]:
    """A successful market envelope: ``{"ch", "status": "ok", "ts", …}``."""
    envelope: dict[str, Any] = {"ch": ch} if ch else {}
    envelope.update(status="ok", ts=ts)
    envelope.update(body)
    return envelope


def error(code: str, message: str, ts: int) -> dict[str, Any]:
    """An HTX error envelope (``rest_error_invalid_symbol.json``)."""
    return {"ts": ts, "status": "error", "err-code": code, "err-msg": message}


def levels(rows: Iterable[Level]) -> list[list[float]]:
    """``[[price, amount], …]``."""
    return [[num(p), num(q)] for p, q in rows]


def depth_tick(snapshot: BookSnapshot, ts: int) -> dict[str, Any]:
    """The ``tick`` of ``/market/depth`` and ``market.$symbol.depth.$type``."""
    return {
        "ts": ts,
        "version": snapshot.last_update_id,
        "bids": levels(snapshot.bids),
        "asks": levels(snapshot.asks),
    }


def detail_tick(market: MarketState, stats: Stats) -> dict[str, Any]:
    """The ``tick`` of ``/market/detail`` and ``market.$symbol.detail``."""
    return {
        "id": market.update_id,
        "low": num(stats.low),
        "high": num(stats.high),
        "open": num(stats.open),
        "close": num(stats.last),
        "vol": num(stats.quote_volume),
        "amount": num(stats.volume),
        "version": market.update_id,
        "count": stats.count,
    }


def merged_tick(market: MarketState, stats: Stats) -> dict[str, Any]:
    """The ``tick`` of ``/market/detail/merged``: the detail plus ``bid``/``ask`` pairs."""
    tick = detail_tick(market, stats)
    bid, ask = market.book.best_bid, market.book.best_ask
    tick["bid"] = [num(bid[0]), num(bid[1])] if bid else []
    tick["ask"] = [num(ask[0]), num(ask[1])] if ask else []
    return tick


def ticker_entry(market: MarketState, stats: Stats) -> dict[str, Any]:
    """One entry of ``/market/tickers`` ``data``."""
    bid, ask = market.book.best_bid, market.book.best_ask
    return {
        "symbol": native(market.spec),
        "open": num(stats.open),
        "high": num(stats.high),
        "low": num(stats.low),
        "close": num(stats.last),
        "amount": num(stats.volume),
        "vol": num(stats.quote_volume),
        "count": stats.count,
        "bid": num(bid[0]) if bid else None,
        "bidSize": num(bid[1]) if bid else None,
        "ask": num(ask[0]) if ask else None,
        "askSize": num(ask[1]) if ask else None,
    }


def ws_ticker_tick(market: MarketState, stats: Stats) -> dict[str, Any]:
    """The ``tick`` of ``market.$symbol.ticker``."""
    tick = ticker_entry(market, stats)
    del tick["symbol"]
    last = market.last_trade
    tick["lastPrice"] = num(stats.last)
    tick["lastSize"] = num(last.qty) if last else 0.0
    return tick


def bbo_tick(market: MarketState, ts: int) -> dict[str, Any]:
    """The ``tick`` of ``market.$symbol.bbo`` (``ws_bbo.json``)."""
    bid, ask = market.book.best_bid, market.book.best_ask
    return {
        "seqId": market.update_id,
        "ask": num(ask[0]) if ask else None,
        "askSize": num(ask[1]) if ask else None,
        "bid": num(bid[0]) if bid else None,
        "bidSize": num(bid[1]) if bid else None,
        "quoteTime": ts,
        "symbol": native(market.spec),
    }


def kline_tick(candle: Candle) -> dict[str, Any]:
    """A candle: ``id`` is its open time in seconds, ``amount`` base and ``vol`` quote volume."""
    return {
        "id": candle.open_time // 1000,
        "open": num(candle.open),
        "close": num(candle.close),
        "low": num(candle.low),
        "high": num(candle.high),
        "amount": num(candle.volume),
        "vol": num(candle.quote_volume),
        "count": candle.trades,
    }


def trade_id(trade: Trade) -> int:
    """HTX's long per-fill ``id`` (27 digits in real data; 18-19 here, as orjson writes int64 only)."""
    return trade.trade_id * 10**9 + trade.agg_id % 10**9


def trade_entry(trade: Trade, *, ws: bool) -> dict[str, Any]:
    """One fill; REST spells the public id ``trade-id``, the websocket ``tradeId``."""
    return {
        "id": trade_id(trade),
        "ts": trade.time_ms,
        ("tradeId" if ws else "trade-id"): trade.trade_id,
        "amount": num(trade.qty),
        "price": num(trade.price),
        "direction": "sell" if trade.buyer_maker else "buy",
    }


def trade_tick(trades: Sequence[Trade], *, ws: bool) -> dict[str, Any]:
    """A group of fills of one taker order, newest first as HTX lists them."""
    first = trades[0]
    return {
        "id": first.trade_id,
        "ts": first.time_ms,
        "data": [trade_entry(t, ws=ws) for t in reversed(trades)],
    }


def trade_groups(trades: Iterable[Trade]) -> list[list[Trade]]:
    """Recent fills grouped by taker order (same time and side), oldest group first."""
    groups: list[list[Trade]] = []
    for trade in trades:
        last = groups[-1][-1] if groups else None
        if last and last.time_ms == trade.time_ms and last.buyer_maker == trade.buyer_maker:
            groups[-1].append(trade)
        else:
            groups.append([trade])
    return groups


# ---- reference data --------------------------------------------------------------------------
def _state(spec: MarketSpec) -> str:
    return "online" if spec.trading else "suspend"


def v1_symbol(spec: MarketSpec) -> dict[str, Any]:
    """One ``/v1/common/symbols`` entry (``rest_v1_common_symbols.json``)."""
    max_qty = num(spec.max_qty)
    return {
        "base-currency": spec.base.lower(),
        "quote-currency": spec.quote.lower(),
        "price-precision": spec.price_precision,
        "amount-precision": spec.qty_precision,
        "symbol-partition": "main",
        "symbol": native(spec),
        "state": _state(spec),
        "value-precision": 8,
        "min-order-amt": num(spec.min_qty),
        "max-order-amt": max_qty,
        "min-order-value": num(spec.min_notional),
        "limit-order-min-order-amt": num(spec.min_qty),
        "limit-order-max-order-amt": max_qty,
        "limit-order-max-buy-amt": max_qty,
        "limit-order-max-sell-amt": max_qty,
        "sell-market-min-order-amt": num(spec.min_qty),
        "sell-market-max-order-amt": max_qty,
        "buy-market-max-order-value": 1000000,
        "leverage-ratio": 5,
        "super-margin-leverage-ratio": 3,
        "api-trading": "enabled" if spec.trading else "disabled",
        "tags": "",
    }


def v2_symbol(spec: MarketSpec, online_since_ms: int) -> dict[str, Any]:
    """One ``/v2/settings/common/symbols`` entry (``rest_v2_settings_common_symbols.json``)."""
    return {
        "tags": "",
        "state": _state(spec),
        "wr": "1.5",
        "sc": native(spec),
        "p": [],
        "bcdn": spec.base,
        "qcdn": spec.quote,
        "elr": None,
        "tpp": spec.price_precision,
        "tap": spec.qty_precision,
        "fp": 8,
        "smlr": None,
        "flr": None,
        "whe": False,
        "cd": False,
        "te": spec.trading,
        "sp": "main",
        "d": None,
        "bc": spec.base.lower(),
        "qc": spec.quote.lower(),
        "toa": online_since_ms,
        "ttp": 8,
        "w": 999_400_000,
        "lr": 5,
        "dn": spec.unified,
    }


def currency(code: str) -> dict[str, Any]:
    """One ``/v2/reference/currencies`` entry with a single native chain."""
    lower = code.lower()
    return {
        "currency": lower,
        "assetType": 1,
        "chains": [
            {
                "chain": lower,
                "displayName": code,
                "baseChain": code,
                "baseChainProtocol": "",
                "isDynamic": False,
                "depositStatus": "allowed",
                "maxWithdrawAmt": "1000000.00000000",
                "minDepositAmt": "0.0001",
                "minWithdrawAmt": "0.0001",
                "numOfConfirmations": 30,
                "numOfFastConfirmations": 15,
                "transactFeeWithdraw": "0.00010000",
                "withdrawFeeType": "fixed",
                "withdrawPrecision": 8,
                "withdrawQuotaPerDay": "1000000.00000000",
                "withdrawQuotaPerYear": "100000000.00000000",
                "withdrawQuotaTotal": "100000000.00000000",
                "withdrawStatus": "allowed",
            }
        ],
        "instStatus": "normal",
    }
