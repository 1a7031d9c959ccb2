"""Binance spot payloads (REST bodies and websocket events) → normalized records.

Every value Binance sends as text stays the same exact ``Decimal``. A payload that breaks the
documented shape raises :class:`~core.errors.BadResponseError` naming the symbol when known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Final

from pydantic import ValidationError

from core.decimals import exact, to_decimal
from core.errors import BadResponseError
from core.intervals import BY_CODE, Interval
from core.models import BookLevel, Kline, Market, OrderBook, Price, Quote, Ticker, Trade
from core.records import trusted
from exchanges.binance.levels import ACTIVE, LevelsKit, Rows, levels

MARKET_STATUS: Mapping[str, str] = {"TRADING": "trading", "BREAK": "halted", "HALT": "halted"}
"""exchangeInfo ``status`` → :attr:`Market.status` (anything else counts as halted)."""


class DepthDiff:
    """One ``depthUpdate`` event: levels changed between update ids ``first_id`` and ``last_id``.

    A plain (compiled) class with final fields (mypy refuses an assignment to one): a frozen
    dataclass's ``__init__`` stays Python code under mypyc, a Python frame per depth event.
    """

    def __init__(  # noqa: PLR0917  (the fields in order, as the dataclass it replaced took them)
        self, symbol: str, first_id: int, last_id: int, event_time: int | None, bids: Rows, asks: Rows
    ) -> None:
        self.symbol: Final = symbol
        self.first_id: Final = first_id
        self.last_id: Final = last_id
        self.event_time: Final = event_time
        self.bids: Final = bids
        """Changed bid levels as the parser's :attr:`~BinanceParser.levels_kit` checked them."""
        self.asks: Final = asks

    def __repr__(self) -> str:
        return f"DepthDiff({self.symbol!r}, U={self.first_id}, u={self.last_id}, E={self.event_time})"


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST ``/api/v3/depth`` answer."""

    last_update_id: int
    bids: list[BookLevel]
    asks: list[BookLevel]


class _shape:
    """Turn a parsing error inside the block into a :class:`BadResponseError` naming the symbol.

    For REST payloads. The websocket parsers, one call per frame, use ``try``/``except`` (free in
    CPython 3.11 until something raises) with :func:`_malformed` instead: entering and leaving this
    object cost ~0.6 µs per record.
    """

    __slots__ = ("symbol", "what")

    def __init__(self, what: str, symbol: str = "") -> None:
        self.what = what
        self.symbol = symbol

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or not isinstance(exc, _SHAPE_ERRORS):
            return
        raise _malformed(self.what, self.symbol, exc) from None


def _malformed(what: str, symbol: str, exc: BaseException) -> BadResponseError:
    """The error for a payload of kind ``what`` (of ``symbol``, when known) that broke its shape."""
    where = f"{symbol}: " if symbol else ""
    detail = exc.errors(include_url=False)[0]["msg"] if isinstance(exc, ValidationError) else exc
    return BadResponseError(f"binance: {where}malformed {what} ({type(exc).__name__}: {detail})")


_SHAPE_ERRORS = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    InvalidOperation,
    ValidationError,
)


class BinanceParser:
    """Parses Binance payloads for one instance; knows the native id ↔ unified symbol map."""

    def __init__(self, instance: str, markets: Sequence[Market] = (), levels_kit: LevelsKit = ACTIVE) -> None:
        self.instance = instance
        self.levels_kit = levels_kit
        """Checks depth events' levels for the local books (:mod:`exchanges.binance.levels`)."""
        self._unified: dict[str, str] = {}
        self.set_markets(markets)

    def set_markets(self, markets: Sequence[Market]) -> None:
        """Learn the native ids (``BTCUSDT``) of ``markets``."""
        self._unified = {m.native_id: m.symbol for m in markets}

    def knows(self, native: str) -> bool:
        """True when ``native`` is the id of a known market."""
        return native in self._unified

    def unified(self, native: str) -> str:
        """``BTCUSDT`` → ``BTC/USDT``; unknown ids raise :class:`BadResponseError`."""
        try:
            return self._unified[native]
        except KeyError:
            raise BadResponseError(f"binance: unknown symbol id {native!r} in a payload") from None

    # ---- REST ----------------------------------------------------------------------------------
    def market(self, info: Mapping[str, Any], receive_time: int) -> Market:
        """One ``exchangeInfo.symbols`` entry.

        ``{"symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC",
        "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.00000100", …},
        {"filterType": "LOT_SIZE", "minQty": "0.00010000", "stepSize": "0.00010000", …},
        {"filterType": "NOTIONAL", "minNotional": "0.00010000", …}], …}`` (older entries carry
        ``MIN_NOTIONAL`` instead of ``NOTIONAL``).
        """
        native = _symbol_of(info)
        with _shape("exchangeInfo symbol", native):
            filters = {f["filterType"]: f for f in info.get("filters", ())}
            tick = _opt(filters.get("PRICE_FILTER", {}).get("tickSize"))
            step = _opt(filters.get("LOT_SIZE", {}).get("stepSize"))
            notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
            base, quote = str(info["baseAsset"]), str(info["quoteAsset"])
            return Market(
                instance=self.instance,
                symbol=f"{base}/{quote}",
                native_id=native,
                base=base,
                quote=quote,
                status=MARKET_STATUS.get(str(info["status"]), "halted"),
                price_increment=tick,
                amount_increment=step,
                price_precision=_places(tick),
                amount_precision=_places(step),
                min_amount=_opt(filters.get("LOT_SIZE", {}).get("minQty")),
                min_notional=_opt(notional.get("minNotional")),
                receive_time=receive_time,
            )

    def ticker(self, t: Mapping[str, Any], receive_time: int) -> Ticker:
        """``GET /api/v3/ticker/24hr`` (FULL or MINI).

        ``{"symbol": "BTCUSDT", "priceChange": "1188.75000000", "priceChangePercent": "1.647",
        "lastPrice": "73369.84000000", "bidPrice": "73369.83000000", "bidQty": "6.27086000",
        "askPrice": "73369.84000000", "askQty": "0.03321000", "openPrice": "72181.09000000",
        "highPrice": "73650.25000000", "lowPrice": "68620.82000000", "volume": "72140.34862800",
        "quoteVolume": "5167027510.68728707", "openTime": 1710241845391, "closeTime": 1710328245391,
        "firstId": 3476288989, "lastId": 3479476926, "count": 3187938, …}``
        """
        native = _symbol_of(t)
        with _shape("24hr ticker", native):
            return Ticker(
                instance=self.instance,
                symbol=self.unified(native),
                event_time=t.get("closeTime"),
                receive_time=receive_time,
                open=t.get("openPrice"),
                high=t.get("highPrice"),
                low=t.get("lowPrice"),
                last=t["lastPrice"],
                volume=t.get("volume"),
                quote_volume=t.get("quoteVolume"),
                change=t.get("priceChange"),
                change_percent=t.get("priceChangePercent"),
                bid=t.get("bidPrice"),
                bid_size=t.get("bidQty"),
                ask=t.get("askPrice"),
                ask_size=t.get("askQty"),
            )

    def book_ticker(self, t: Mapping[str, Any], receive_time: int) -> Quote:
        """``GET /api/v3/ticker/bookTicker``: ``{"symbol": "LTCBTC", "bidPrice": "4.00000000",
        "bidQty": "431.00000000", "askPrice": "4.00000200", "askQty": "9.00000000"}``."""
        native = _symbol_of(t)
        with _shape("book ticker", native):
            return Quote(
                instance=self.instance,
                symbol=self.unified(native),
                event_time=None,
                receive_time=receive_time,
                bid=t["bidPrice"],
                bid_size=t["bidQty"],
                ask=t["askPrice"],
                ask_size=t["askQty"],
            )

    def price(self, t: Mapping[str, Any], receive_time: int) -> Price:
        """``GET /api/v3/ticker/price``: ``{"symbol": "LTCBTC", "price": "4.00000200"}``."""
        native = _symbol_of(t)
        with _shape("price ticker", native):
            return Price(
                instance=self.instance,
                symbol=self.unified(native),
                event_time=None,
                receive_time=receive_time,
                price=t["price"],
            )

    def depth_snapshot(self, body: Mapping[str, Any], symbol: str = "") -> DepthSnapshot:
        """``GET /api/v3/depth``: ``{"lastUpdateId": 25445101, "bids": [["42574.30000000",
        "0.01070000"], …], "asks": [["42574.31000000", "0.00870000"], …]}``."""
        with _shape("depth snapshot", symbol):
            return DepthSnapshot(int(body["lastUpdateId"]), levels(body["bids"]), levels(body["asks"]))

    def order_book(self, symbol: str, snapshot: DepthSnapshot, depth: int, receive_time: int) -> OrderBook:
        """A REST depth snapshot cut to ``depth`` levels (REST snapshots carry no event time)."""
        with _shape("depth snapshot", symbol):
            return OrderBook(
                instance=self.instance,
                symbol=symbol,
                event_time=None,
                receive_time=receive_time,
                bids=snapshot.bids[:depth],
                asks=snapshot.asks[:depth],
                sequence=snapshot.last_update_id,
                depth=depth,
            )

    def trade(self, symbol: str, t: Mapping[str, Any], receive_time: int) -> Trade:
        """``GET /api/v3/trades``: ``{"id": 28457, "price": "4.00000100", "qty": "12.00000000",
        "quoteQty": "48.000012", "time": 1499865549590, "isBuyerMaker": true, "isBestMatch": true}``.

        The taker sold when the buyer was the maker.
        """
        with _shape("trade", symbol):
            return Trade(
                instance=self.instance,
                symbol=symbol,
                event_time=int(t["time"]),
                receive_time=receive_time,
                id=str(t["id"]),
                price=t["price"],
                amount=t["qty"],
                side="sell" if _flag(t["isBuyerMaker"]) else "buy",
            )

    def kline_row(self, symbol: str, interval: Interval, row: Sequence[Any], receive_time: int) -> Kline:
        """``GET /api/v3/klines`` row: ``[1706630400000, "43519.34000000", "43936.00000000",
        "43171.00000000", "43488.71000000", "20.55495000", 1706633999999, "891428.42858070", 3743,
        "10.91428000", "473782.95739920", "0"]`` (open time, OHLC, volume, close time, quote volume,
        trades, taker buy volumes, unused). A row still running has its close time in the future.

        Built without pydantic validation, as the stream's candles are: a backfill parses up to
        1,000 rows a page, and validating each was most of a backfill's CPU.
        """
        with _shape("kline", symbol):
            close_time = _int(row[6])
            return trusted(
                Kline,
                instance=self.instance,
                symbol=symbol,
                event_time=None,
                receive_time=receive_time,
                interval=interval,
                open_time=_int(row[0]),
                close_time=close_time,
                open=exact(row[1]),
                high=exact(row[2]),
                low=exact(row[3]),
                close=exact(row[4]),
                volume=exact(row[5]),
                quote_volume=exact(row[7]),
                trades=_int(row[8]),
                closed=close_time < receive_time,
            )

    # ---- websocket events ----------------------------------------------------------------------
    def ws_ticker(self, e: Mapping[str, Any], receive_time: int) -> Ticker:
        """``<symbol>@ticker``: ``{"e": "24hrTicker", "E": 1672515782136, "s": "BNBBTC",
        "p": "0.0015", "P": "250.00", "w": "0.0018", "x": "0.0009", "c": "0.0025", "Q": "10",
        "b": "0.0024", "B": "10", "a": "0.0026", "A": "100", "o": "0.0010", "h": "0.0025",
        "l": "0.0010", "v": "10000", "q": "18", "O": 0, "C": 86400000, "F": 0, "L": 18150,
        "n": 18151}``."""
        native = _symbol_of(e, "s")
        try:
            return trusted(
                Ticker,
                instance=self.instance,
                symbol=self.unified(native),
                event_time=_int(e["E"]),
                receive_time=receive_time,
                open=exact(e["o"]),
                high=exact(e["h"]),
                low=exact(e["l"]),
                last=exact(e["c"]),
                volume=exact(e["v"]),
                quote_volume=exact(e["q"]),
                change=exact(e["p"]),
                change_percent=exact(e["P"]),
                bid=exact(e["b"]),
                bid_size=exact(e["B"]),
                ask=exact(e["a"]),
                ask_size=exact(e["A"]),
            )
        except _SHAPE_ERRORS as exc:
            raise _malformed("24hrTicker event", native, exc) from None

    def ws_book_ticker(self, e: Mapping[str, Any], receive_time: int) -> Quote:
        """``<symbol>@bookTicker``: ``{"u": 499869768, "s": "NKNUSDT", "b": "0.35210000",
        "B": "672.00000000", "a": "0.35260000", "A": "3199.00000000"}`` (no event time on spot)."""
        native = _symbol_of(e, "s")
        try:
            event_time, update_id = e.get("E"), e.get("u")
            return trusted(
                Quote,
                instance=self.instance,
                symbol=self.unified(native),
                event_time=None if event_time is None else _int(event_time),
                receive_time=receive_time,
                bid=exact(e["b"]),
                bid_size=exact(e["B"]),
                ask=exact(e["a"]),
                ask_size=exact(e["A"]),
                sequence=None if update_id is None else _int(update_id),
            )
        except _SHAPE_ERRORS as exc:
            raise _malformed("bookTicker event", native, exc) from None

    def ws_trade(self, e: Mapping[str, Any], receive_time: int) -> Trade:
        """``<symbol>@trade``: ``{"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345,
        "p": "0.001", "q": "100", "T": 1672515782136, "m": true, "M": true}``; ``aggTrade``
        events (``"a": 15683430`` instead of ``"t"``) parse the same way."""
        native = _symbol_of(e, "s")
        try:
            return trusted(
                Trade,
                instance=self.instance,
                symbol=self.unified(native),
                event_time=_int(e["E"]),
                receive_time=receive_time,
                id=str(e["t"] if "t" in e else e["a"]),
                price=exact(e["p"]),
                amount=exact(e["q"]),
                side="sell" if _flag(e["m"]) else "buy",
            )
        except _SHAPE_ERRORS as exc:
            raise _malformed("trade event", native, exc) from None

    def ws_price(self, e: Mapping[str, Any], receive_time: int) -> Price:
        """The last price of a ``trade``/``aggTrade`` event."""
        native = _symbol_of(e, "s")
        try:
            return trusted(
                Price,
                instance=self.instance,
                symbol=self.unified(native),
                event_time=_int(e["E"]),
                receive_time=receive_time,
                price=exact(e["p"]),
            )
        except _SHAPE_ERRORS as exc:
            raise _malformed("trade event", native, exc) from None

    def ws_kline(self, e: Mapping[str, Any], receive_time: int) -> Kline:
        """``<symbol>@kline_<interval>``: ``{"e": "kline", "E": 1633998523963, "s": "NKNUSDT",
        "k": {"t": 1633998480000, "T": 1633998539999, "s": "NKNUSDT", "i": "1m", "f": 19862761,
        "L": 19862790, "o": "0.35270000", "c": "0.35280000", "h": "0.35280000", "l": "0.35220000",
        "v": "25877.00000000", "n": 30, "x": false, "q": "9116.04600000", "V": "58.00000000",
        "Q": "20.46240000", "B": "0"}}``; ``x`` is true on the final update of a candle."""
        native = _symbol_of(e, "s")
        try:
            k = e["k"]
            return trusted(
                Kline,
                instance=self.instance,
                symbol=self.unified(native),
                event_time=_int(e["E"]),
                receive_time=receive_time,
                interval=BY_CODE.get(k["i"]) or Interval.parse(k["i"]),  # parse() names a bad code
                open_time=_int(k["t"]),
                close_time=_int(k["T"]),
                open=exact(k["o"]),
                high=exact(k["h"]),
                low=exact(k["l"]),
                close=exact(k["c"]),
                volume=exact(k["v"]),
                quote_volume=exact(k["q"]),
                trades=_int(k["n"]),
                closed=_flag(k["x"]),
            )
        except _SHAPE_ERRORS as exc:
            raise _malformed("kline event", native, exc) from None

    def ws_depth(self, e: Mapping[str, Any]) -> DepthDiff:
        """``<symbol>@depth@100ms``: ``{"e": "depthUpdate", "E": 1633998512068, "s": "NKNUSDT",
        "U": 499869750, "u": 499869752, "b": [["0.35130000", "6195.00000000"], …], "a": []}``;
        an amount of ``"0.00000000"`` removes the level."""
        native = _symbol_of(e, "s")
        check = self.levels_kit.check
        try:
            return DepthDiff(
                symbol=self.unified(native),
                first_id=_int(e["U"]),
                last_id=_int(e["u"]),
                event_time=e.get("E"),
                bids=check(e["b"]),
                asks=check(e["a"]),
            )
        except _SHAPE_ERRORS as exc:
            raise _malformed("depthUpdate event", native, exc) from None


def _symbol_of(payload: Any, key: str = "symbol") -> str:
    if type(payload) is dict:  # the common case, without the ABC check's cost
        native = payload.get(key, "")
        return native if type(native) is str else str(native)
    return str(payload.get(key, "")) if isinstance(payload, Mapping) else ""


def _opt(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _places(increment: Decimal | None) -> int | None:
    if increment is None:
        return None
    exponent = increment.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true/false, got {value!r}")
    return value
