"""Hand-computed cases of the arbitrage engine: fees, lots, minimums, depth, staleness, lifecycle."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.arbitrage import ArbitrageEngine, ArbitrageObserver, ArbitrageSettings, MemorySink, Opportunity
from core.arbitrage import plugin as arbitrage_plugin
from core.arbitrage.book import clean_levels
from core.arbitrage.evaluate import CONTEXT
from core.models import CheckedLevels, Market, OrderBook
from tests.arbitrage.support import INSTANCE, FixedClock, book, market, quote

FEE = Decimal("0.001")
FORWARD = "BTC/USDT:buy,ETH/BTC:buy,ETH/USDT:sell"


def engine(*markets: Market, **settings: object) -> ArbitrageEngine:
    config = ArbitrageSettings.model_validate({"taker_fee": FEE, **settings})
    built = ArbitrageEngine(INSTANCE, config, FixedClock(1_000_000))
    built.load_markets(markets)
    return built


def triangle(eth_usdt: Market | None = None, eth_btc: Market | None = None) -> ArbitrageEngine:
    """USDT→BTC→ETH→USDT pays 10 % gross: BTC costs 100, ETH 0.1 BTC, and ETH sells for 11."""
    built = engine(market("BTC/USDT"), eth_btc or market("ETH/BTC"), eth_usdt or market("ETH/USDT"))
    built.apply(quote("BTC/USDT", "99.9", "5", "100", "1"))
    built.apply(quote("ETH/BTC", "0.0999", "500", "0.1", "100"))
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500"))
    return built


def only(built: ArbitrageEngine) -> Opportunity:
    found = built.opportunities()
    assert [o.id for o in found] == [FORWARD]
    return found[0]


def test_triangle_with_fees_hand_computed() -> None:
    found = only(triangle())
    # the first leg limits: 1 BTC at 100 USDT; 0.999 BTC buys 9.99 ETH, 9.98001 kept, sold at 11
    assert found.path == ("USDT", "BTC", "ETH", "USDT")
    assert [(leg.symbol, leg.side, leg.price, leg.amount) for leg in found.legs] == [
        ("BTC/USDT", "buy", Decimal(100), Decimal(1)),
        ("ETH/BTC", "buy", Decimal("0.1"), Decimal("9.99")),
        ("ETH/USDT", "sell", Decimal(11), Decimal("9.98001")),
    ]
    assert found.size == Decimal(100)
    assert found.size_usd == Decimal(100)
    assert found.gross_return == Decimal("0.1")
    assert found.net_return == Decimal("0.0967032989")  # 109.78011 x 0.999 / 100 - 1
    assert found.instance == INSTANCE
    assert not found.stale


def test_lot_size_rounds_down_and_loses_the_dust() -> None:
    found = only(triangle(eth_usdt=market("ETH/USDT", lot="0.01")))
    assert found.legs[2].amount == Decimal("9.98")  # 9.98001 rounded down to the 0.01 lot
    assert found.net_return == Decimal("0.0967022")  # 9.98 x 11 x 0.999 / 100 - 1


def test_lot_on_a_buy_leg_buys_whole_lots() -> None:
    found = only(triangle(eth_btc=market("ETH/BTC", lot="0.5")))
    assert found.legs[1].amount == Decimal("9.5")  # 0.999 BTC pays for 9.99 ETH: 19 lots of 0.5
    assert found.legs[2].amount == Decimal("9.4905")
    assert found.net_return == Decimal("0.042911045")  # 9.4905 x 11 x 0.999 / 100 - 1
    assert triangle(eth_btc=market("ETH/BTC", lot="1")).opportunities() == []  # 9 lots: a loss


def test_min_notional_excludes() -> None:
    assert triangle(eth_usdt=market("ETH/USDT", min_notional="200")).opportunities() == []
    assert triangle(eth_usdt=market("ETH/USDT", min_notional="100")).opportunities() != []


def test_a_size_only_change_opens_and_closes_a_screened_cycle() -> None:
    """Same prices, other sizes: no rate moves, yet the minimum notional is met, then missed again."""
    built = triangle(eth_usdt=market("ETH/USDT", min_notional="200"))
    assert built.opportunities() == []  # the cycle passes the screen, but 1 BTC is too little
    built.apply(quote("BTC/USDT", "99.9", "5", "100", "3"))  # three times the size at the same ask
    assert only(built).size == Decimal(300)
    built.apply(quote("BTC/USDT", "99.9", "5", "100", "1"))
    assert built.opportunities() == []
    built.apply(book("BTC/USDT", [("99.9", "5")], [("100", "2.5")]))  # a book at the same top, too
    assert only(built).size == Decimal(250)


def test_min_amount_excludes() -> None:
    assert triangle(eth_btc=market("ETH/BTC", min_amount="10")).opportunities() == []
    assert triangle(eth_btc=market("ETH/BTC", min_amount="9.99")).opportunities() != []


def test_depth_walk_takes_levels_while_the_marginal_cycle_pays() -> None:
    built = triangle()
    # 100 and 101 still pay (11 / 101 / 0.1 after fees is 1.086); at 120 the cycle loses
    built.apply(book("BTC/USDT", [("99.9", "5")], [("100", "1"), ("101", "1"), ("120", "5")]))
    found = only(built)
    assert found.size == Decimal(201)
    assert found.legs[0].amount == Decimal(2)
    assert found.legs[0].price == Decimal("100.5")  # size-weighted over the two levels
    # 1.998 BTC buy 19.98 ETH, 19.96002 kept, sold at 11 for 219.56022, 219.34065978 kept
    assert abs(found.net_return - (Decimal("219.34065978") / 201 - 1)) < Decimal("1e-26")


def test_quote_over_a_book_keeps_the_deeper_levels() -> None:
    built = triangle()
    built.apply(book("BTC/USDT", [("99.9", "5")], [("100", "1"), ("101", "1"), ("120", "5")]))
    built.apply(quote("BTC/USDT", "99.95", "5", "100.5", "0.5"))
    found = only(built)
    assert found.size == Decimal("50.25") + 101  # 0.5 BTC at 100.5, then the book's 101 level
    built.apply(quote("BTC/USDT", "99.95", "5", "100.5", "0.5"))  # a quote replaces a quote only
    assert only(built).size == Decimal("151.25")


def test_threshold_is_configurable() -> None:
    built = engine(market("BTC/USDT"), market("ETH/BTC"), market("ETH/USDT"), min_net_return="0.1")
    built.apply(quote("BTC/USDT", "99.9", "5", "100", "1"))
    built.apply(quote("ETH/BTC", "0.0999", "500", "0.1", "100"))
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500"))
    assert built.opportunities() == []  # 9.67 % net is below the 10 % threshold


def test_consistent_quotes_with_spread_give_nothing() -> None:
    built = engine(market("BTC/USDT"), market("ETH/BTC"), market("ETH/USDT"), taker_fee="0")
    built.apply(quote("BTC/USDT", "99.99", "5", "100.01", "5"))
    built.apply(quote("ETH/BTC", "0.09999", "500", "0.10001", "500"))
    built.apply(quote("ETH/USDT", "9.999", "500", "10.001", "500"))
    assert built.opportunities() == []


def test_stale_leg_flags_the_opportunity() -> None:
    built = triangle()
    built.apply(quote("ETH/USDT", "11", "100", "11.01", "500", time=1_000_000 - 7_000))
    found = only(built)
    assert found.oldest_quote_age_ms == 7_000
    assert found.stale
    assert found.detected_at == 1_000_000


def test_usd_size_of_a_cycle_not_starting_in_usd() -> None:
    built = engine(market("ETH/BTC"), market("XRP/BTC"), market("XRP/ETH"), market("BTC/USDT"))
    built.apply(quote("XRP/BTC", "0.0001", "100000", "0.000101", "100000"))
    built.apply(quote("XRP/ETH", "0.0011", "100000", "0.00111", "100000"))
    built.apply(quote("ETH/BTC", "0.1", "100", "0.1001", "100"))
    # BTC→XRP (buy at 0.000101) → ETH (sell at 0.0011) → BTC (sell at 0.1): 8.9 % gross
    found = built.opportunities()
    assert [o.path for o in found] == [("BTC", "XRP", "ETH", "BTC")]
    assert found[0].size_usd is None  # no BTC/USDT quote yet
    built.apply(quote("BTC/USDT", "50000", "1", "50001", "1"))
    assert built.opportunities()[0].size_usd == CONTEXT.multiply(found[0].size, 50000)


def test_cycles_are_enumerated_once_from_their_start_asset() -> None:
    built = engine(*(market(s) for s in ("B/A", "C/A", "D/A", "C/B", "D/B", "D/C")), max_legs=4)
    assert len(built.cycles) == 8 + 6  # 4 triangles and 3 four-cycles, both directions each
    assert len({c.key for c in built.cycles}) == 14
    assert {c.assets[0] for c in built.cycles} == {"A", "B"}  # A unless the cycle avoids A
    preferred = engine(market("BTC/USDT"), market("ETH/BTC"), market("ETH/USDT"), market("AAA/ETH"))
    assert {c.assets[0] for c in preferred.cycles} == {"USDT"}
    assert len(preferred.cycles_through("ETH/BTC")) == 2
    assert preferred.cycles_through("AAA/ETH") == []


def test_halted_markets_are_not_in_the_graph() -> None:
    built = engine(market("BTC/USDT"), market("ETH/BTC", status="halted"), market("ETH/USDT"))
    assert built.cycles == []


def triangle_observer() -> tuple[ArbitrageObserver, MemorySink]:
    """An observer of the BTC/USDT, ETH/BTC, ETH/USDT triangle, publishing to a memory sink."""
    sink = MemorySink()
    observer = ArbitrageObserver(INSTANCE, ArbitrageSettings(taker_fee=FEE), sink=sink,
                                 clock=FixedClock(1_000_000))
    observer.on_markets([market("BTC/USDT"), market("ETH/BTC"), market("ETH/USDT")])
    return observer, sink


def test_observer_evaluates_each_market_as_the_batch_leaves_it() -> None:
    """A mispricing undone later in the same batch is never reported; a quote after a book in the
    batch sits on top of that book; one before it is replaced by it."""
    observer, sink = triangle_observer()
    observer.on_records([
        quote("BTC/USDT", "99.9", "5", "100", "1"),
        quote("ETH/BTC", "0.0999", "500", "0.1", "100"),
        quote("ETH/USDT", "11", "100", "11.01", "500"),  # pays 10 %...
        quote("ETH/USDT", "9.9", "100", "10.1", "500"),  # ...until this, in the same batch
    ])
    assert sink.opportunities(INSTANCE) == [] and not sink.events
    observer.on_records([
        quote("ETH/USDT", "11", "100", "11.01", "500"),  # replaced by the book that follows
        book("ETH/USDT", [("9.9", "100")], [("10.1", "500")]),
        quote("BTC/USDT", "99.9", "5", "100", "1"),
    ])
    assert sink.opportunities(INSTANCE) == []
    observer.on_records([
        book("ETH/USDT", [("9.9", "100")], [("10.1", "500")]),
        quote("ETH/USDT", "11", "2", "11.01", "500"),  # on top of the book: 2 ETH at 11, then 9.9
    ])
    found = sink.opportunities(INSTANCE)
    assert [o.id for o in found] == [FORWARD]
    assert found[0].legs[2].price == Decimal(11) and found[0].legs[2].amount <= 2


def test_observer_publishes_open_update_and_close() -> None:
    observer, sink = triangle_observer()
    observer.on_records([
        quote("BTC/USDT", "99.9", "5", "100", "1"),
        quote("ETH/BTC", "0.0999", "500", "0.1", "100"),
        quote("ETH/USDT", "11", "100", "11.01", "500"),
    ])
    assert [o.id for o in sink.opportunities(INSTANCE)] == [FORWARD]
    observer.on_records([quote("ETH/USDT", "12", "100", "12.01", "500")])
    assert sink.opportunities(INSTANCE)[0].gross_return == Decimal("0.2")
    observer.on_records([quote("ETH/USDT", "10", "100", "10.01", "500")])
    assert sink.opportunities(INSTANCE) == []
    assert [kind for kind, _, _ in sink.events] == ["open", "open", "close"]


@pytest.mark.parametrize(("plugin", "fee"), [("binance", "0.001"), ("huobi", "0.002"), ("other", "0.002")])
def test_settings_take_the_venue_standard_fee(plugin: str, fee: str) -> None:
    from core.arbitrage import settings_for

    assert settings_for(plugin).taker_fee == Decimal(fee)
    assert settings_for(plugin, taker_fee="0.00075").taker_fee == Decimal("0.00075")
    tuned = settings_for(plugin, options={"arbitrage": {"max_legs": 4, "min_net_return": "0.001"}})
    assert (tuned.max_legs, tuned.min_net_return) == (4, Decimal("0.001"))


def test_bad_arbitrage_options_are_config_errors() -> None:
    from core.arbitrage import settings_for
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"options\.arbitrage\.max_legs"):
        settings_for("binance", options={"arbitrage": {"max_legs": 9}})
    with pytest.raises(ConfigError, match=r"options\.arbitrage\.colour"):
        settings_for("binance", options={"arbitrage": {"colour": "red"}})


def test_plugin_provides_an_observer_through_the_hook() -> None:
    from importlib.metadata import entry_points

    from core.plugins import PluginHost

    installed = any(e.name == "arbitrage" for e in entry_points(group="quotewire"))
    host = PluginHost.load() if installed else PluginHost.load(arbitrage_plugin)  # stale egg-info
    observers = host.observers("binance-sim", "binance")
    found = [o for o in observers if isinstance(o, ArbitrageObserver)]
    assert len(found) == 1
    assert found[0].engine.settings.taker_fee == Decimal("0.001")


def test_levels_a_local_book_vouches_for_are_taken_as_they_are() -> None:
    checked = CheckedLevels([(Decimal("100"), Decimal("1")), (Decimal("99"), Decimal("2"))])
    assert clean_levels(checked) is checked
    plain = [(Decimal("100"), Decimal("1")), (Decimal("99"), Decimal("0")), (Decimal("0"), Decimal("2"))]
    assert clean_levels(plain) == [(Decimal("100"), Decimal("1"))]  # anything else is checked


def test_a_book_of_checked_levels_evaluates_like_a_plain_one() -> None:
    found = []
    for kind in (list, CheckedLevels):
        built = triangle()
        record = book("BTC/USDT", [("99.9", "5")], [("100", "1"), ("101", "1"), ("120", "5")])
        record = record.model_copy(update={"bids": kind(record.bids), "asks": kind(record.asks)})
        built.apply(record)
        found.append(only(built))
    assert found[0] == found[1]


def test_a_market_whose_data_arrives_late_is_withdrawn_until_it_is_on_time() -> None:
    """Books minutes behind the market (a lagging connection) must not make a cycle with fresh ones."""
    observer, sink = triangle_observer()
    now = 1_000_000
    observer.on_records([
        quote("BTC/USDT", "99.9", "5", "100", "1"),
        quote("ETH/BTC", "0.0999", "500", "0.1", "100"),
        quote("ETH/USDT", "11", "100", "11.01", "500"),
    ])
    assert [o.id for o in sink.opportunities(INSTANCE)] == [FORWARD]

    def timed(record: OrderBook, delay_ms: int) -> OrderBook:
        return record.model_copy(update={"event_time": now - delay_ms, "receive_time": now})

    mispriced = book("ETH/USDT", [("11", "100")], [("11.01", "500")])
    observer.on_records([timed(mispriced, 5_001)])  # sent 5 s before it arrived
    assert observer.late == {"ETH/USDT"} and sink.opportunities(INSTANCE) == []
    observer.on_records([quote("ETH/USDT", "11", "100", "11.01", "500")])  # no event time: no proof
    assert sink.opportunities(INSTANCE) == []
    observer.on_records([timed(mispriced, 200)])  # on time again
    assert observer.late == set() and [o.id for o in sink.opportunities(INSTANCE)] == [FORWARD]
    assert [kind for kind, _, _ in sink.events] == ["open", "close", "open"]


def test_withdrawing_a_market_closes_its_cycles_and_screens_them_out() -> None:
    built = triangle()
    assert built.opportunities() != []
    built.withdraw("ETH/USDT")
    assert built.opportunities() == []
    built.recompute_all(exact=True)  # nothing passes without the book, even unscreened
    assert built.opportunities() == []
    built.withdraw("ETH/USDT")  # twice, or an unknown symbol: nothing to do
    built.withdraw("NOPE/USDT")
