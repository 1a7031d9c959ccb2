"""The local order book: Binance's snapshot + diff procedure on the recorded NKNUSDT session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.arbitrage.book import clean_levels
from core.errors import SequenceGapError
from core.models import CheckedLevels, OrderBook
from core.records import trusted
from core.store.codec import decode, encode
from exchanges.binance.book import LocalBook
from exchanges.binance.levels import KITS, PYTHON, LevelsKit
from exchanges.binance.parsers import BinanceParser, DepthDiff, DepthSnapshot

Load = Callable[[str], Any]
SYMBOL = "NKN/USDT"


def test_the_native_book_is_built() -> None:
    """The C side is built by the install on any machine with a compiler (as CI's)."""
    assert KITS[0].name == "native"


@pytest.fixture(scope="module", params=KITS, ids=lambda kit: kit.name)
def kit(request: pytest.FixtureRequest) -> LevelsKit:
    """Each book implementation in turn: every test of the book holds for both."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def snapshot(parser: BinanceParser, binance_fixture: Load) -> DepthSnapshot:
    return parser.depth_snapshot(binance_fixture("rest_depth_NKNUSDT_limit1000"), SYMBOL)


@pytest.fixture
def diffs(parser: BinanceParser, binance_fixture: Load, kit: LevelsKit) -> list[DepthDiff]:
    parser.levels_kit = kit
    return [parser.ws_depth(f["data"]) for f in binance_fixture("ws_depthUpdate_NKNUSDT_sequence_combined")]


def replay(snapshot: DepthSnapshot, diffs: list[DepthDiff]) -> tuple[dict[Decimal, Decimal], ...]:
    """A naive reference: the snapshot with every later diff applied in order."""
    bids, asks = dict(snapshot.bids), dict(snapshot.asks)
    for d in diffs:
        if d.last_id <= snapshot.last_update_id:
            continue
        for side, changes in ((bids, d.bids), (asks, d.asks)):
            for p, a in changes:
                side[Decimal(p)] = Decimal(a)
    return {p: a for p, a in bids.items() if a}, {p: a for p, a in asks.items() if a}


def test_recorded_session_lines_up(snapshot: DepthSnapshot, diffs: list[DepthDiff], kit: LevelsKit) -> None:
    book = LocalBook(SYMBOL, kit)
    book.on_diff(diffs[0])  # arrives while the snapshot is fetched
    book.on_snapshot(snapshot)
    assert book.last_update_id == snapshot.last_update_id  # the buffered event was inside the snapshot
    applied = [book.on_diff(d) for d in diffs[1:]]
    assert all(applied)
    assert book.last_update_id == diffs[-1].last_id == 499870179
    bids, asks = replay(snapshot, diffs)
    assert (book.bids, book.asks) == (bids, asks)


def test_top_levels_sorted(snapshot: DepthSnapshot, diffs: list[DepthDiff], kit: LevelsKit) -> None:
    book = LocalBook(SYMBOL, kit)
    book.on_snapshot(snapshot)
    for d in diffs[1:]:
        book.on_diff(d)
    bids, asks = book.top(20)
    assert len(bids) == len(asks) == 20
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert bids[0][0] < asks[0][0]
    assert bids[0][0] == max(book.bids)
    # vouched for as all positive, so the arbitrage engine takes them without checking each level
    assert isinstance(bids, CheckedLevels) and type(asks) is type(bids)
    assert clean_levels(bids) is bids  # ... and without copying them
    assert all(p > 0 and a > 0 for p, a in bids + asks)


def test_events_buffered_before_the_snapshot_are_replayed(
    snapshot: DepthSnapshot, diffs: list[DepthDiff], kit: LevelsKit
) -> None:
    book = LocalBook(SYMBOL, kit)
    for d in diffs[:10]:
        assert not book.on_diff(d)
    assert book.buffered == 10
    book.on_snapshot(snapshot)
    assert book.last_update_id == diffs[9].last_id
    assert (book.bids, book.asks) == replay(snapshot, diffs[:10])


def test_zero_amount_removes_a_level(kit: LevelsKit) -> None:
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(10, [(Decimal("1.0"), Decimal("2"))], [(Decimal("1.1"), Decimal("3"))]))
    book.on_diff(DepthDiff("X/Y", 11, 11, 5, kit.check([["1.00", "0.000"]]), []))
    assert book.bids == {}
    assert book.event_time == 5


def test_gap_raises_and_waits_for_a_new_snapshot(
    snapshot: DepthSnapshot, diffs: list[DepthDiff], kit: LevelsKit
) -> None:
    book = LocalBook(SYMBOL, kit)
    book.on_snapshot(snapshot)
    for d in diffs[1:5]:
        book.on_diff(d)
    with pytest.raises(SequenceGapError, match="NKN/USDT"):
        book.on_diff(diffs[6])  # diffs[5] was lost
    assert not book.synced
    assert book.buffered == 1
    newer = DepthSnapshot(
        diffs[7].last_id, [(Decimal("0.3"), Decimal("1"))], [(Decimal("0.4"), Decimal("1"))]
    )
    book.on_snapshot(newer)
    assert book.on_diff(diffs[8])
    assert book.last_update_id == diffs[8].last_id


def test_snapshot_older_than_the_buffer_is_refused(
    snapshot: DepthSnapshot, diffs: list[DepthDiff], kit: LevelsKit
) -> None:
    book = LocalBook(SYMBOL, kit)
    book.on_diff(diffs[5])  # U is far beyond the snapshot's lastUpdateId + 1
    with pytest.raises(SequenceGapError):
        book.on_snapshot(snapshot)
    assert not book.synced


_PRICES = st.sampled_from(["1", "1.0", "1.00", "1.5", "2", "2.50", "3", "0.1", "10", "9.99"])
_AMOUNTS = st.sampled_from(["0", "0.000", "1", "2.5", "7"])
_CHANGES = st.lists(st.tuples(_PRICES, _AMOUNTS), max_size=6)


Steps = list[tuple[list[tuple[str, str]], list[tuple[str, str]]]]
"""Per diff: the changed (price, amount) texts of the bids and of the asks."""


def diffs_of(steps: Steps, kit: LevelsKit = PYTHON) -> Iterator[DepthDiff]:
    """Diff events carrying ``steps``, one update id each from 2 on (after a snapshot at 1)."""
    for n, (bid_changes, ask_changes) in enumerate(steps):
        bids = kit.check([[p, a] for p, a in bid_changes])
        asks = kit.check([[p, a] for p, a in ask_changes])
        yield DepthDiff("X/Y", n + 2, n + 2, None, bids, asks)


@given(
    steps=st.lists(st.tuples(_CHANGES, _CHANGES), max_size=40), levels=st.integers(min_value=0, max_value=12)
)
def test_top_matches_a_full_sort_after_any_diffs(steps: Steps, levels: int, kit: LevelsKit) -> None:
    """The incrementally kept price order, and the cached top, give what sorting the whole book would
    give, after every diff (including diffs that only touch levels behind the top)."""
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, [(Decimal("1"), Decimal("1"))], [(Decimal("3"), Decimal("1"))]))
    for diff in diffs_of(steps, kit):
        book.on_diff(diff)
        expected_bids = sorted(book.bids.items(), reverse=True)[:levels]
        expected_asks = sorted(book.asks.items())[:levels]
        assert book.top(levels) == (expected_bids, expected_asks)


_TEXT_PRICES = st.sampled_from(["0.00000001", "0.00000010", "0.0000001", "1", "1.00000000", "1.0", "1E+2"])
_TEXT_AMOUNTS = st.sampled_from(["0", "0.00000000", "0.00000001", "0.00001230", "3", "3.0"])
_TEXT_CHANGES = st.lists(st.tuples(_TEXT_PRICES, _TEXT_AMOUNTS), max_size=5)


@given(
    steps=st.lists(st.tuples(_TEXT_CHANGES, _TEXT_CHANGES), max_size=30),
    levels=st.integers(min_value=1, max_value=6),
)
def test_the_stored_book_is_the_validated_models_json_after_any_diffs(
    steps: Steps, levels: int, kit: LevelsKit
) -> None:
    """The book the store writes is byte for byte what pydantic writes for the same book, after
    every diff, including text Python would print with an exponent (``1E-8``) and a level whose
    amount changed (or whose price came back in another spelling, ``1.0`` for ``1``)."""
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, [(Decimal("0.5"), Decimal("1"))], [(Decimal("300"), Decimal("1"))]))
    for n, diff in enumerate(diffs_of(steps, kit)):
        book.on_diff(diff)
        top_bids, top_asks = book.top(levels)
        record = trusted(
            OrderBook, instance="i", symbol="X/Y", event_time=None, receive_time=n,
            bids=top_bids, asks=top_asks, sequence=n + 2, depth=levels,
        )  # fmt: skip
        validated = OrderBook(**record.model_dump())
        assert encode(record) == validated.__pydantic_serializer__.to_json(validated)
        assert decode(encode(record), OrderBook) == validated


@given(st.lists(st.tuples(_TEXT_CHANGES, _CHANGES), max_size=30), st.integers(min_value=0, max_value=6))
def test_the_native_and_the_python_book_agree(steps: Steps, levels: int) -> None:
    """After every diff both implementations hold the same levels, hand out the same top and store
    the same bytes."""
    books = [LocalBook("X/Y", kit) for kit in KITS]
    snapshot = DepthSnapshot(1, [(Decimal("0.5"), Decimal("1"))], [(Decimal("1E+2"), Decimal("2.50"))])
    for book in books:
        book.on_snapshot(snapshot, limit=1)  # full: each side has an edge
    for diffs in zip(*(list(diffs_of(steps, book.kit)) for book in books), strict=True):
        seen = []
        for book, diff in zip(books, diffs, strict=True):
            book.on_diff(diff)
            bids, asks = book.top(levels)
            record = trusted(
                OrderBook, instance="i", symbol="X/Y", event_time=None, receive_time=0,
                bids=bids, asks=asks, sequence=book.last_update_id, depth=levels,
            )  # fmt: skip
            seen.append((book.bids, book.asks, bids, asks, encode(record), book.known(levels)))
        assert all(state == seen[0] for state in seen)


@pytest.mark.parametrize(
    "rows",
    [
        [["0", "1"]],  # a price must be positive
        [["1", "-1"]],  # an amount must not be negative
        [["1", "x"]],
        [["NaN", "1"]],
        [["1"]],
        [[1, "1"]],  # numbers, not text
        "1,1",
    ],
)
def test_malformed_levels_are_refused(kit: LevelsKit, rows: Any) -> None:
    with pytest.raises((TypeError, ValueError, IndexError, ArithmeticError)):
        kit.check(rows)


def test_the_native_book_takes_other_spellings_as_plain_text() -> None:
    """Text a Decimal accepts in another spelling is stored (and written) as plain text; what its
    exact key cannot hold is refused with a clear error."""
    native = KITS[0]
    assert native.check([["1E-8", "2.5e1"]]) == [["0.00000001", "25"]]
    with pytest.raises(ValueError, match="native book's range"):
        native.check([["0.0000000000000000001", "1"]])  # 19 decimal places


def bounded_reference(book: dict[Decimal, Decimal], most: int, *, descending: bool) -> dict[Decimal, Decimal]:
    """The bound's rule, naively: once a side holds an eighth more than ``most``, keep its best ``most``."""
    if len(book) <= most + (most + 7) // 8:
        return book
    return dict(sorted(book.items(), reverse=descending)[:most])


@given(
    steps=st.lists(st.tuples(_CHANGES, _CHANGES), max_size=40),
    most=st.integers(min_value=1, max_value=4),
    levels=st.integers(min_value=0, max_value=5),
)
def test_a_bounded_book_keeps_its_best_levels(steps: Steps, most: int, levels: int, kit: LevelsKit) -> None:
    """With ``max_levels`` a side never holds more than an eighth beyond it, drops its worst levels
    first, and its top stays what the kept levels give."""
    book = LocalBook("X/Y", kit, max_levels=most)
    book.on_snapshot(DepthSnapshot(1, [(Decimal("1"), Decimal("1"))], [(Decimal("3"), Decimal("1"))]))
    bids, asks = {Decimal("1"): Decimal("1")}, {Decimal("3"): Decimal("1")}
    edges: dict[bool, Decimal] = {}  # by descending: the worst price kept by the latest drop
    for diff in diffs_of(steps, kit):
        book.on_diff(diff)
        for side, changes, descending in ((bids, diff.bids, True), (asks, diff.asks, False)):
            for price, amount in changes:
                if Decimal(amount):
                    side[Decimal(price)] = Decimal(amount)
                else:
                    side.pop(Decimal(price), None)
            kept = bounded_reference(dict(side), most, descending=descending)
            if len(kept) < len(side):  # dropped levels: nothing beyond the worst kept is known
                worst = min(kept) if descending else max(kept)
                edge = edges.get(descending, worst)
                edges[descending] = max(edge, worst) if descending else min(edge, worst)
            side.clear()
            side.update(kept)
        assert (book.bids, book.asks) == (bids, asks)
        known_bids = [lv for lv in sorted(bids.items(), reverse=True) if lv[0] >= edges.get(True, lv[0])]
        known_asks = [lv for lv in sorted(asks.items()) if lv[0] <= edges.get(False, lv[0])]
        assert book.top(levels) == (known_bids[:levels], known_asks[:levels])


def test_a_snapshot_deeper_than_the_bound_is_cut_to_its_best_levels(kit: LevelsKit) -> None:
    book = LocalBook("X/Y", kit, max_levels=2)
    levels = [(Decimal(p), Decimal("1")) for p in ("5", "4", "3", "2", "1")]
    book.on_snapshot(DepthSnapshot(1, levels, list(reversed(levels))))
    assert sorted(book.bids) == [Decimal("4"), Decimal("5")]
    assert sorted(book.asks) == [Decimal("1"), Decimal("2")]


def levels_of(*prices: str) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal("1")) for p in prices]


def test_levels_beyond_a_full_snapshot_are_not_served(kit: LevelsKit) -> None:
    """A snapshot that came back with as many levels as asked ends where the book's knowledge ends:
    a level beyond it that changed is held, but not served (unchanged levels before it are unknown)."""
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, levels_of("10", "9", "8"), levels_of("11", "12", "13")), limit=3)
    assert book.known(3) == (3, 3)
    assert not book.needs_refresh(2)
    book.on_diff(DepthDiff("X/Y", 2, 2, None, kit.check([["10", "0"], ["9", "0"], ["7.5", "2"]]), []))
    bids, asks = book.top(3)
    assert bids == levels_of("8")  # 7.5 is held, but the venue may have 7.9 (unchanged, never sent)
    assert asks == levels_of("11", "12", "13")
    assert Decimal("7.5") in book.bids
    assert book.known(3) == (1, 3)
    assert book.needs_refresh(2)  # fewer than 2 bids left inside the edge


def test_a_snapshot_shorter_than_its_limit_holds_the_whole_side(kit: LevelsKit) -> None:
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, levels_of("10", "9"), levels_of("11", "12", "13")), limit=3)
    book.on_diff(DepthDiff("X/Y", 2, 2, None, kit.check([["10", "0"], ["7", "1"]]), kit.check([["11", "0"]])))
    assert book.top(3) == (levels_of("9", "7"), levels_of("12", "13"))  # bids: whole; asks: to the edge
    assert book.known(5) == (5, 2)
    assert not book.needs_refresh(2)  # 2 asks inside the edge
    assert book.needs_refresh(3)


def test_a_refresh_swaps_in_a_new_snapshot_while_the_book_is_served(kit: LevelsKit) -> None:
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, levels_of("10", "9", "8"), levels_of("11", "12", "13")), limit=3)
    book.on_diff(DepthDiff("X/Y", 2, 2, 20, kit.check([["10", "0"], ["9", "0"]]), []))
    book.refresh()
    assert book.refreshing
    assert book.on_diff(DepthDiff("X/Y", 3, 3, 30, kit.check([["8", "5"]]), []))  # still served
    assert book.top(2)[0] == [(Decimal("8"), Decimal("5"))]
    # the venue's book at update 2 held levels the first snapshot could not show
    book.on_snapshot(
        DepthSnapshot(2, levels_of("8", "7.9", "7.8", "7.5", "7"), levels_of("11", "12")), limit=5
    )
    assert not book.refreshing
    assert book.last_update_id == 3  # the refresh replayed what it buffered
    assert book.event_time == 30
    assert book.top(3) == (
        [(Decimal("8"), Decimal("5")), (Decimal("7.9"), Decimal("1")), (Decimal("7.8"), Decimal("1"))],
        levels_of("11", "12"),
    )
    assert book.on_diff(DepthDiff("X/Y", 4, 4, 40, [], kit.check([["11", "0"]])))
    assert book.top(1) == ([(Decimal("8"), Decimal("5"))], levels_of("12"))


def test_a_refresh_whose_snapshot_does_not_fit_waits_for_another(kit: LevelsKit) -> None:
    """A refresh snapshot older than the book, or than the diffs it buffered, is refused: the book
    goes on being served, and the next snapshot is tried."""
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(5, levels_of("10", "9"), levels_of("11", "12")), limit=2)
    book.refresh()
    stale = DepthSnapshot(4, levels_of("10"), levels_of("11"))
    with pytest.raises(SequenceGapError, match="older than the book"):
        book.on_snapshot(stale, limit=2)  # nothing buffered yet: it cannot be brought up to 5
    assert book.synced and book.refreshing
    book.on_diff(DepthDiff("X/Y", 6, 6, None, kit.check([["9.5", "1"]]), []))
    book.on_diff(DepthDiff("X/Y", 7, 7, None, kit.check([["9.5", "2"]]), []))
    with pytest.raises(SequenceGapError):
        book.on_snapshot(stale, limit=2)  # older than the first buffered diff
    assert book.synced and book.refreshing
    assert book.top(3)[0] == [
        (Decimal("10"), Decimal("1")),
        (Decimal("9.5"), Decimal("2")),
        (Decimal("9"), Decimal("1")),
    ]
    book.on_diff(DepthDiff("X/Y", 8, 8, None, [], kit.check([["11", "3"]])))
    book.on_snapshot(DepthSnapshot(7, levels_of("10", "9.5", "9"), levels_of("11", "12")), limit=3)
    assert not book.refreshing
    assert book.last_update_id == 8
    assert book.top(3) == (
        [(Decimal("10"), Decimal("1")), (Decimal("9.5"), Decimal("1")), (Decimal("9"), Decimal("1"))],
        [(Decimal("11"), Decimal("3")), (Decimal("12"), Decimal("1"))],
    )


def test_a_gap_during_a_refresh_resyncs_the_whole_book(kit: LevelsKit) -> None:
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(5, levels_of("10", "9"), levels_of("11", "12")), limit=2)
    book.refresh()
    with pytest.raises(SequenceGapError):
        book.on_diff(DepthDiff("X/Y", 7, 7, None, kit.check([["9.5", "1"]]), []))  # 6 was lost
    assert not book.synced and not book.refreshing
    book.on_snapshot(DepthSnapshot(7, levels_of("10", "9.5"), levels_of("11")), limit=5)
    assert book.synced
    assert book.top(5) == (levels_of("10", "9.5"), levels_of("11"))


_DENSE_PRICES = st.integers(min_value=1, max_value=12).map(str)
_DENSE_CHANGES = st.lists(st.tuples(_DENSE_PRICES, _AMOUNTS), max_size=4)


@given(
    steps=st.lists(st.tuples(_DENSE_CHANGES, _DENSE_CHANGES), max_size=40),
    levels=st.integers(min_value=1, max_value=3),
    extra=st.integers(min_value=0, max_value=3),
)
def test_what_is_served_is_always_the_venues_best_levels(
    steps: Steps, levels: int, extra: int, kit: LevelsKit
) -> None:
    """Against a venue whose snapshots are cut to a limit, the served top is at every step exactly
    the venue's best levels (perhaps fewer of them); refreshing when the book asks brings it back to
    full depth."""
    limit = 2 * levels + extra
    truth = {True: dict(levels_of(*map(str, range(1, 13)))), False: dict(levels_of(*map(str, range(1, 13))))}

    def best(descending: bool) -> list[tuple[Decimal, Decimal]]:
        return sorted(truth[descending].items(), reverse=descending)

    def snapshot(update_id: int) -> DepthSnapshot:
        return DepthSnapshot(update_id, best(True)[:limit], best(False)[:limit])

    book = LocalBook("X/Y", kit)
    book.on_snapshot(snapshot(1), limit)
    for diff, (bid_changes, ask_changes) in zip(diffs_of(steps, kit), steps, strict=True):
        for descending, changes in ((True, bid_changes), (False, ask_changes)):
            for price, amount in changes:
                if Decimal(amount):
                    truth[descending][Decimal(price)] = Decimal(amount)
                else:
                    truth[descending].pop(Decimal(price), None)
        book.on_diff(diff)
        bids, asks = book.top(levels)
        assert bids == best(True)[: len(bids)]
        assert asks == best(False)[: len(asks)]
        if book.needs_refresh(2 * levels):
            book.refresh()
            book.on_snapshot(snapshot(diff.last_id), limit)
            assert book.top(levels) == (best(True)[:levels], best(False)[:levels])


def test_a_side_with_no_level_inside_its_edge_is_not_servable(kit: LevelsKit) -> None:
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, levels_of("10"), []), limit=1)  # full bids; asks known empty
    assert book.servable and book.top(2) == (levels_of("10"), [])
    book.on_diff(DepthDiff("X/Y", 2, 2, None, kit.check([["10", "0"], ["9", "1"]]), []))
    assert not book.servable  # the venue's best bid may be above 9: unknown
    assert book.top(2) == ([], [])


# ---- two connections delivering the same updates (a hand-over) ----------------------------------------


def windows_of(steps: Steps, cuts: set[int], start: int, end: int, kit: LevelsKit) -> list[DepthDiff]:
    """The diff events one connection delivers for updates ``start..end`` (update ``n + 2`` is
    ``steps[n]``), its windows ending after each update id in ``cuts``: each event carries every
    changed level's amount as of its last update, as Binance's do."""
    events: list[DepthDiff] = []
    first, bids, asks = start, dict[Decimal, list[str]](), dict[Decimal, list[str]]()
    for update in range(start, end + 1):
        for side, changes in zip((bids, asks), steps[update - 2], strict=True):
            side.update({Decimal(price): [price, amount] for price, amount in changes})
        if update in cuts or update == end:
            rows = kit.check(list(bids.values())), kit.check(list(asks.values()))
            events.append(DepthDiff("X/Y", first, update, update, *rows))
            first, bids, asks = update + 1, {}, {}
    return events


@given(
    steps=st.lists(st.tuples(_CHANGES, _CHANGES), min_size=2, max_size=30),
    data=st.data(),
)
def test_a_hand_over_merges_both_connections_events_into_the_same_book(
    steps: Steps, data: st.DataObject, kit: LevelsKit
) -> None:
    """The old connection delivers updates up to some id, the new one from some id on, each cut
    into its own windows, and the two arrive interleaved in any order: the merged book equals the
    venue's book after every update, and no gap is raised."""
    last = len(steps) + 1  # update ids 2..last
    handover_start = data.draw(st.integers(2, last), label="the new connection's first update")
    old_end = data.draw(st.integers(handover_start - 1, last), label="the old connection's last update")
    old = windows_of(steps, set(data.draw(st.sets(st.integers(2, last)))), 2, old_end, kit)
    new = windows_of(steps, set(data.draw(st.sets(st.integers(2, last)))), handover_start, last, kit)
    order = data.draw(st.permutations([0] * len(old) + [1] * len(new)), label="arrival (0 old, 1 new)")
    snapshot = DepthSnapshot(1, [(Decimal("1"), Decimal("1"))], [(Decimal("3"), Decimal("1"))])
    merged, reference = LocalBook("X/Y", kit), LocalBook("X/Y", kit)
    merged.on_snapshot(snapshot)
    reference.on_snapshot(snapshot)
    streams = [iter(old), iter(new)]
    for connection in order:
        merged.on_diff(next(streams[connection]), merging=True)
    for diff in windows_of(steps, set(), 2, last, kit):
        reference.on_diff(diff)
    assert merged.last_update_id == last
    assert (merged.bids, merged.asks) == (reference.bids, reference.asks)


def test_an_event_ahead_of_the_book_waits_for_the_other_connection_while_merging(kit: LevelsKit) -> None:
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, levels_of("10"), levels_of("11")))
    ahead = DepthDiff("X/Y", 4, 5, 50, kit.check([["9", "2"]]), [])
    assert not book.on_diff(ahead, merging=True)  # the new connection is ahead: held, not a gap
    assert book.last_update_id == 1
    assert book.on_diff(DepthDiff("X/Y", 2, 3, 30, kit.check([["10", "0"]]), []), merging=True)
    assert book.last_update_id == 5  # the held event followed
    assert book.bids == {Decimal("9"): Decimal("2")}
    assert book.event_time == 50


def test_an_event_still_ahead_when_the_hand_over_ends_is_a_gap(kit: LevelsKit) -> None:
    """Updates only the closed connection could have delivered are lost: the book resyncs."""
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, levels_of("10"), levels_of("11")))
    book.on_diff(DepthDiff("X/Y", 4, 5, 50, kit.check([["9", "2"]]), []), merging=True)
    with pytest.raises(SequenceGapError):
        book.on_diff(DepthDiff("X/Y", 6, 6, 60, kit.check([["8", "1"]]), []))
    assert not book.synced
    assert book.buffered == 1


def test_an_overlapping_event_continues_the_book(kit: LevelsKit) -> None:
    """An event whose window starts inside updates the book holds carries each level's amount as
    of its last update: applying it is exact."""
    book = LocalBook("X/Y", kit)
    book.on_snapshot(DepthSnapshot(1, levels_of("10"), levels_of("11")))
    book.on_diff(DepthDiff("X/Y", 2, 4, 40, kit.check([["10", "3"], ["9", "1"]]), []))
    assert book.on_diff(DepthDiff("X/Y", 3, 6, 60, kit.check([["10", "5"]]), []))
    assert book.last_update_id == 6
    assert book.bids == {Decimal("10"): Decimal("5"), Decimal("9"): Decimal("1")}
    assert not book.on_diff(DepthDiff("X/Y", 5, 6, 60, kit.check([["10", "7"]]), []))  # nothing new


def test_a_buffer_of_both_connections_events_replays_in_order(kit: LevelsKit) -> None:
    book = LocalBook("X/Y", kit)
    book.on_diff(DepthDiff("X/Y", 6, 8, 80, kit.check([["9", "4"]]), []))  # the new connection, ahead
    book.on_diff(DepthDiff("X/Y", 2, 5, 50, kit.check([["9", "1"]]), []))  # the old one
    book.on_diff(DepthDiff("X/Y", 4, 7, 70, kit.check([["9", "3"]]), []))
    book.on_snapshot(DepthSnapshot(3, levels_of("10"), levels_of("11")))
    assert book.last_update_id == 8
    assert book.bids == {Decimal("10"): Decimal("1"), Decimal("9"): Decimal("4")}
