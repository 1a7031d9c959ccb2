"""The incremental engine reports exactly what the brute-force enumeration reports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.arbitrage import ArbitrageObserver, ArbitrageSettings, MemorySink
from core.arbitrage.book import Book, Level
from core.arbitrage.reference import brute_force
from core.models import Market, OrderBook, Quote
from tests.arbitrage.support import INSTANCE, FixedClock, book, market, quote

ASSETS = ("USDT", "BTC", "ETH", "AAA", "BBB", "CCC")
VALUE = {"USDT": 1, "BTC": 50, "ETH": 4, "AAA": 2, "BBB": 10, "CCC": 1}
NOW = 1_000_000


@st.composite
def universes(draw: st.DrawFn) -> list[Market]:
    """A few markets over up to six assets, with random lots, minimums and statuses."""
    assets = draw(st.lists(st.sampled_from(ASSETS), min_size=3, max_size=6, unique=True))
    pairs = [(a, b) for i, a in enumerate(assets) for b in assets[i + 1 :]]
    chosen = draw(st.lists(st.sampled_from(pairs), min_size=3, max_size=len(pairs), unique=True))
    markets = []
    for a, b in chosen:
        base, quote_ = (a, b) if draw(st.booleans()) else (b, a)
        markets.append(
            market(
                f"{base}/{quote_}",
                lot=draw(st.sampled_from([None, None, "0.001", "0.1", "1"])),
                min_amount=draw(st.sampled_from([None, None, "0.5"])),
                min_notional=draw(st.sampled_from([None, None, "5", "1000"])),
                status=draw(st.sampled_from(["trading"] * 5 + ["halted"])),
            )
        )
    if draw(st.booleans()):  # the same pair listed the other way round too
        base, quote_ = chosen[0]
        markets.append(market(f"{quote_}/{base}"))
    return markets


def _price(draw: st.DrawFn, m: Market) -> Decimal:
    fair = Decimal(VALUE[m.base]) / Decimal(VALUE[m.quote])
    noise = Decimal(draw(st.integers(-80, 80))) / 1000  # up to 8 % off: some cycles pay, most do not
    return (fair * (1 + noise)).quantize(Decimal("0.0001")) or Decimal("0.0001")


def _size(draw: st.DrawFn) -> Decimal:
    return Decimal(draw(st.sampled_from(["0", "0.3", "1", "2.5", "40", "1000", "1000", "5000"])))


@st.composite
def updates(draw: st.DrawFn, markets: list[Market], symbol: str | None = None) -> Quote | OrderBook:
    """A quote or a book for one of the markets (or ``symbol``'s), bid below ask, and timed."""
    m = draw(st.sampled_from([m for m in markets if symbol in (None, m.symbol)]))
    mid = _price(draw, m)
    half = mid * Decimal(draw(st.integers(0, 5))) / 2000
    time = NOW - draw(st.sampled_from([0, 10, 3000, 9000]))
    if draw(st.integers(0, 3)) > 0:
        return quote(m.symbol, str(mid - half), str(_size(draw)), str(mid + half), str(_size(draw)), time)
    levels = draw(st.integers(1, 4))
    step = mid / 500
    bids = [(str(mid - half - step * i), str(_size(draw))) for i in range(levels)]
    asks = [(str(mid + half + step * i), str(_size(draw))) for i in range(levels)]
    return book(m.symbol, bids, asks, time)


def _apply(books: dict[str, Book], record: Quote | OrderBook) -> None:
    """The documented book semantics, written out plainly."""
    if isinstance(record, OrderBook):
        bids: list[Level] = [(p, a) for p, a in record.bids if p > 0 and a > 0]
        asks: list[Level] = [(p, a) for p, a in record.asks if p > 0 and a > 0]
        books[record.symbol] = Book(bids, asks, record.receive_time, bids, asks)
        return
    old = books.get(record.symbol)
    depth_bids, depth_asks = (old.depth_bids, old.depth_asks) if old is not None else ([], [])
    bids = [(record.bid, record.bid_size), *(lv for lv in depth_bids if lv[0] < record.bid)]
    asks = [(record.ask, record.ask_size), *(lv for lv in depth_asks if lv[0] > record.ask)]
    bids = [(p, a) for p, a in bids if p > 0 and a > 0]
    asks = [(p, a) for p, a in asks if p > 0 and a > 0]
    books[record.symbol] = Book(bids, asks, record.receive_time, depth_bids, depth_asks)


def _dump(found: list[Any]) -> list[dict[str, Any]]:
    return [o.model_dump() for o in found]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_incremental_engine_matches_brute_force(data: st.DataObject) -> None:
    markets = data.draw(universes())
    config = ArbitrageSettings(
        taker_fee=data.draw(st.sampled_from([Decimal("0.001"), Decimal("0.002"), Decimal(0)])),
        min_net_return=data.draw(st.sampled_from([Decimal(0), Decimal("0.002"), Decimal("-0.01")])),
        max_legs=data.draw(st.integers(3, 5)),
        stale_after_ms=5000,
    )
    sink = MemorySink()
    observer = ArbitrageObserver(INSTANCE, config, sink=sink, clock=FixedClock(NOW))
    observer.on_markets(markets)
    books: dict[str, Book] = {}
    first = [data.draw(updates(markets, m.symbol)) for m in markets]  # every market quoted once
    batches = [first, *data.draw(st.lists(st.lists(updates(markets), max_size=6), max_size=8))]
    reload_at = data.draw(st.integers(0, len(batches)))
    for number, batch in enumerate(batches):
        if number == reload_at:  # the instance relists: one market is halted, books are kept
            markets = [markets[0].model_copy(update={"status": "halted"}), *markets[1:]]
            observer.on_markets(markets)
        observer.on_records(batch)
        for record in batch:
            _apply(books, record)
        expected = _dump(brute_force(INSTANCE, markets, books, config, NOW))
        event("opportunities found" if expected else "none found")
        event(f"max legs {config.max_legs}")
        assert _dump(observer.engine.opportunities()) == expected
        assert _dump(sink.opportunities(INSTANCE)) == expected


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_consistent_quotes_give_no_opportunity(data: st.DataObject) -> None:
    """Quotes around one set of fair values, bid below fair and ask above: nothing pays."""
    markets = data.draw(universes())
    engine = ArbitrageObserver(INSTANCE, ArbitrageSettings(taker_fee=Decimal(0), max_legs=5),
                               clock=FixedClock(NOW)).engine
    engine.load_markets(markets)
    for m in markets:
        fair = Decimal(VALUE[m.base]) / Decimal(VALUE[m.quote])
        spread = Decimal(data.draw(st.integers(0, 20))) / 10000
        engine.apply(quote(m.symbol, str(fair * (1 - spread)), "10", str(fair * (1 + spread)), "10"))
    assert engine.opportunities() == []
