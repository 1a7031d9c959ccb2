"""Records of one market from streams that do not wait for each other: update ids order a quote and
a book, and a 24h ticker's top yields to fresh quotes and books."""

from __future__ import annotations

from decimal import Decimal

from core.arbitrage import ArbitrageEngine, ArbitrageObserver, ArbitrageSettings, MemorySink
from core.arbitrage.engine import SEQUENCE_WINDOW_MS
from core.models import Ticker
from tests.arbitrage.support import INSTANCE, FixedClock, book, market, quote

FEE = Decimal("0.001")
FORWARD = "BTC/USDT:buy,ETH/BTC:buy,ETH/USDT:sell"
T0 = 1_000_000
STALE_AFTER_MS = 5_000


def settings() -> ArbitrageSettings:
    return ArbitrageSettings(taker_fee=FEE, stale_after_ms=STALE_AFTER_MS)


def legs() -> ArbitrageEngine:
    """BTC/USDT and ETH/BTC quoted so that USDT→BTC→ETH→USDT pays once ETH sells above ~10.03."""
    built = ArbitrageEngine(INSTANCE, settings(), FixedClock(T0))
    built.load_markets([market("BTC/USDT"), market("ETH/BTC"), market("ETH/USDT")])
    built.apply(quote("BTC/USDT", "99.9", "5", "100", "1"))
    built.apply(quote("ETH/BTC", "0.0999", "500", "0.1", "100"))
    return built


def paying(built: ArbitrageEngine) -> bool:
    return [o.id for o in built.opportunities()] == [FORWARD]


CHEAP_BOOK = ([("9.9", "100")], [("10.1", "500")])
"""ETH/USDT where the cycle does not pay."""


def test_a_quote_older_than_the_latest_book_is_skipped() -> None:
    built = legs()
    built.apply(book("ETH/USDT", *CHEAP_BOOK, time=T0, sequence=20))
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500", time=T0 + 5, sequence=15))
    assert not paying(built)  # the book is newer: its top stands
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500", time=T0 + 6, sequence=21))
    assert paying(built)


def test_a_book_older_than_the_latest_quote_keeps_that_quote_on_top() -> None:
    built = legs()
    built.apply(quote("ETH/USDT", "11", "2", "11.01", "500", time=T0, sequence=30))
    assert paying(built)
    built.apply(book("ETH/USDT", [("10.9", "100"), ("9.9", "100")], [("11.01", "500")], T0 + 5, 25))
    (found,) = built.opportunities()
    assert found.legs[2].price <= Decimal(11)  # the quote's 2 ETH at 11 first, then the book's 10.9
    assert found.legs[2].amount > 2  # …and the book's deeper levels behind it
    built.apply(book("ETH/USDT", *CHEAP_BOOK, time=T0 + 6, sequence=31))
    assert not paying(built)  # a newer book replaces the quote


def test_update_ids_order_records_only_within_the_window() -> None:
    """A venue that restarted counts from the start again: after the window its records are taken."""
    built = legs()
    built.apply(book("ETH/USDT", *CHEAP_BOOK, time=T0, sequence=1_000))
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500", time=T0 + SEQUENCE_WINDOW_MS + 1, sequence=3))
    assert paying(built)


def test_without_update_ids_the_latest_arrival_wins() -> None:
    built = legs()
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500", time=T0))
    built.apply(book("ETH/USDT", *CHEAP_BOOK, time=T0 + 5))
    assert not paying(built)
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500", time=T0 + 6))
    assert paying(built)


def ticker(time: int, *, sizes: bool = True) -> Ticker:
    size = Decimal(1) if sizes else None
    return Ticker(
        instance=INSTANCE, symbol="ETH/USDT", event_time=None, receive_time=time, last=Decimal(10),
        bid=Decimal(10), bid_size=size, ask=Decimal("10.01"), ask_size=size,
    )  # fmt: skip


def test_a_ticker_top_yields_to_a_fresh_quote_and_feeds_once_quotes_stop() -> None:
    built = legs()
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500", time=T0))
    built.apply(ticker(T0 + STALE_AFTER_MS))
    assert paying(built)  # a summary up to a second old: the quote stands
    built.apply(ticker(T0 + STALE_AFTER_MS + 1, sizes=False))
    assert paying(built)  # without sizes a ticker never feeds
    built.apply(ticker(T0 + STALE_AFTER_MS + 1))
    assert not paying(built)  # no quote or book for longer than stale_after_ms: the ticker feeds


def test_a_market_quoted_only_by_tickers_is_fed_by_them() -> None:
    built = legs()
    built.apply(ticker(T0).model_copy(update={"bid": Decimal(11), "ask": Decimal("11.01")}))
    assert paying(built)
    built.apply(ticker(T0 + 1))
    assert not paying(built)


def observer() -> tuple[ArbitrageObserver, MemorySink]:
    sink = MemorySink()
    watching = ArbitrageObserver(INSTANCE, settings(), sink=sink, clock=FixedClock(T0))
    watching.on_markets([market("BTC/USDT"), market("ETH/BTC"), market("ETH/USDT")])
    watching.on_records([
        quote("BTC/USDT", "99.9", "5", "100", "1"),
        quote("ETH/BTC", "0.0999", "500", "0.1", "100"),
    ])  # fmt: skip
    return watching, sink


def test_observer_keeps_a_quote_newer_than_the_book_after_it_in_the_batch() -> None:
    """bookTicker is real-time, depth comes every 100 ms: the book that arrives after a quote can
    be older than it, and the quote's update id says so."""
    watching, sink = observer()
    watching.on_records([
        quote("ETH/USDT", "11", "100", "11.01", "500", sequence=30),
        book("ETH/USDT", *CHEAP_BOOK, sequence=25),
    ])  # fmt: skip
    assert [o.id for o in sink.opportunities(INSTANCE)] == [FORWARD]
    watching.on_records([
        quote("ETH/USDT", "11", "100", "11.01", "500", sequence=31),
        book("ETH/USDT", *CHEAP_BOOK, sequence=40),
    ])  # fmt: skip
    assert sink.opportunities(INSTANCE) == []


def test_observer_does_not_let_a_ticker_displace_the_quote_before_it() -> None:
    watching, sink = observer()
    watching.on_records([quote("ETH/USDT", "11", "100", "11.01", "500"), ticker(T0)])
    assert [o.id for o in sink.opportunities(INSTANCE)] == [FORWARD]


def test_a_deferred_observer_evaluates_the_markets_as_they_stand_at_the_drain() -> None:
    sink = MemorySink()
    watching = ArbitrageObserver(INSTANCE, settings(), sink=sink, clock=FixedClock(T0), deferred=True)
    watching.on_markets([market("BTC/USDT"), market("ETH/BTC"), market("ETH/USDT")])
    watching.on_records([
        quote("BTC/USDT", "99.9", "5", "100", "1"),
        quote("ETH/BTC", "0.0999", "500", "0.1", "100"),
    ])  # fmt: skip
    watching.on_records([quote("ETH/USDT", "11", "100", "11.01", "500")])  # replaced by the book…
    watching.on_records([book("ETH/USDT", *CHEAP_BOOK)])
    assert watching.engine.opportunities() == []  # nothing evaluated yet
    watching.drain()
    assert sink.opportunities(INSTANCE) == []
    watching.on_records([quote("ETH/USDT", "11", "2", "11.01", "500")])  # …this one sits on top of it
    watching.drain()
    (found,) = sink.opportunities(INSTANCE)
    assert found.id == FORWARD and found.legs[2].price == Decimal(11) and found.legs[2].amount <= 2
    events = len(sink.events)
    watching.drain()
    assert len(sink.events) == events
