"""The Binance adapter against the simulated Binance venue over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pluggy
import pytest
from pydantic import SecretStr

from core import hookspecs
from core.adapter import Subscription
from core.clock import SystemClock
from core.config import Credentials, InstanceConfig, VenueUrls
from core.errors import BadResponseError, RateLimitedError, TransientError, UnknownSymbolError
from core.intervals import ALL_INTERVALS, Interval
from core.models import Channel, Kline, OrderBook, Record
from core.plugins import PluginHost
from core.venue import SimulatedVenue
from exchanges.binance import plugin as binance_plugin
from exchanges.binance import streams
from exchanges.binance.adapter import BinanceAdapter

DEPTH = 5


def binance_host() -> PluginHost:
    """A plugin host with only the binance plugin (others may be mid-change in a shared tree)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(binance_plugin)
    return PluginHost(manager)


async def start_venue(**options: Any) -> SimulatedVenue:
    venue = binance_host().venues["binance"](seed=7, symbols=6, **options)
    await venue.start()
    return venue


class MinuteStartClock(SystemClock):
    """The system clock shifted so that it reads one second past a minute when made: a test of Binance's
    fixed one-minute weight window then has 59 s before the window resets under it."""

    def __init__(self) -> None:
        self._shift_ms = super().now_ms() % 60_000 - 1_000

    def now_ms(self) -> int:
        return super().now_ms() - self._shift_ms


def config(venue: SimulatedVenue, **extra: Any) -> InstanceConfig:
    urls = venue.instance_urls()
    return InstanceConfig(
        name="binance-sim",
        plugin="binance",
        urls=VenueUrls(rest=urls["rest"], websocket=urls["websocket"]),
        depth_levels=DEPTH,
        **extra,
    )


@pytest.fixture
async def venue() -> AsyncIterator[SimulatedVenue]:
    started = await start_venue()
    yield started
    await started.stop()


@pytest.fixture
async def adapter(venue: SimulatedVenue) -> AsyncIterator[BinanceAdapter]:
    async with BinanceAdapter(config(venue)) as opened:
        await opened.load_markets()
        yield opened


async def symbols(adapter: BinanceAdapter, n: int = 3) -> list[str]:
    markets = await adapter.load_markets()
    return [m.symbol for m in markets if m.status == "trading"][:n]


async def collect(
    adapter: BinanceAdapter, subs: Sequence[Subscription], until: int, *, max_batches: int = 5000
) -> Counter[tuple[Channel, str]]:
    """Records per (channel, symbol) until each subscription produced ``until`` records."""
    seen: Counter[tuple[Channel, str]] = Counter()
    wanted = {(s.channel, s.symbol) for s in subs}
    stream = adapter.stream(subs)
    async with asyncio.timeout(30):
        async for batch in stream:
            for record in batch:
                seen[(record.channel, record.symbol)] += 1  # type: ignore[attr-defined]
            max_batches -= 1
            if all(seen[w] >= until for w in wanted) or max_batches <= 0:
                break
    await stream.aclose()  # type: ignore[attr-defined]
    return seen


async def consume_while(stream: AsyncIterator[Sequence[Record]], action: Callable[[], object]) -> None:
    """Read ``stream``, calling ``action`` after each batch, until it raises (bounded by a timeout)."""
    try:
        async with asyncio.timeout(30):
            async for _ in stream:
                action()
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def test_plugin_provides_the_adapter() -> None:
    assert binance_host().adapter("binance") is BinanceAdapter


async def test_load_markets(adapter: BinanceAdapter) -> None:
    markets = await adapter.load_markets()
    assert len(markets) == 6
    btc = next(m for m in markets if m.symbol == "BTC/USDT")
    assert btc.native_id == "BTCUSDT"
    assert btc.price_increment is not None
    assert btc.price_precision is not None
    assert btc.min_notional is not None
    assert adapter.used_weight is not None
    assert adapter.used_weight >= 20


async def test_single_fetches(adapter: BinanceAdapter) -> None:
    symbol = (await symbols(adapter, 1))[0]
    ticker = await adapter.fetch_ticker(symbol)
    quote = await adapter.fetch_quote(symbol)
    price = await adapter.fetch_price(symbol)
    book = await adapter.fetch_depth(symbol, 10)
    trades = await adapter.fetch_trades(symbol, 7)
    assert ticker.symbol == quote.symbol == price.symbol == book.symbol == symbol
    assert ticker.quote_volume is not None
    assert quote.bid < quote.ask
    assert len(book.bids) == len(book.asks) == 10
    assert book.bids[0][0] < book.asks[0][0]
    assert book.sequence is not None
    assert 0 < len(trades) <= 7
    assert [t.event_time or 0 for t in trades] == sorted(t.event_time or 0 for t in trades)


async def test_bulk_fetches_return_one_record_per_symbol(adapter: BinanceAdapter) -> None:
    wanted = await symbols(adapter, 3)
    for fetch in (adapter.fetch_tickers, adapter.fetch_quotes, adapter.fetch_prices):
        records: Sequence[Record] = await fetch(wanted)
        assert sorted(r.symbol for r in records) == sorted(wanted)
    everything = [m.symbol for m in await adapter.load_markets()]
    assert len(await adapter.fetch_prices(everything[:1])) == 1


@pytest.mark.parametrize("interval", ALL_INTERVALS)
async def test_klines_every_interval(adapter: BinanceAdapter, interval: Interval) -> None:
    symbol = (await symbols(adapter, 1))[0]
    klines = await adapter.fetch_klines(symbol, interval, limit=3)
    assert 1 <= len(klines) <= 3
    for k in klines:
        assert k.interval is interval
        assert k.open_time == interval.open_time(k.open_time)
        assert k.close_time == interval.close_time(k.open_time)
        assert k.quote_volume is not None
        assert k.trades is not None
    assert [k.open_time for k in klines] == sorted(k.open_time for k in klines)
    assert not klines[-1].closed
    assert all(k.closed for k in klines[:-1])


async def test_klines_from_a_start_time(adapter: BinanceAdapter) -> None:
    symbol = (await symbols(adapter, 1))[0]
    latest = await adapter.fetch_klines(symbol, Interval.M1, limit=5)
    start = latest[1].open_time
    since = await adapter.fetch_klines(symbol, Interval.M1, start_ms=start, limit=2)
    assert [k.open_time for k in since] == [start, start + 60_000]


async def test_unknown_symbols(adapter: BinanceAdapter) -> None:
    with pytest.raises(UnknownSymbolError) as caught:
        await adapter.fetch_ticker("BTC/USDX")
    assert "BTC/USDT" in caught.value.suggestions
    with pytest.raises(UnknownSymbolError):  # the venue's own answer, through ccxt's BadSymbol
        await adapter.call(adapter.exchange.publicGetDepth, {"symbol": "NOPEUSDT"})


async def test_stream_produces_every_channel(adapter: BinanceAdapter) -> None:
    a, b = await symbols(adapter, 2)
    subs = [Subscription(c, a) for c in Channel if c is not Channel.KLINE]
    subs += [Subscription(Channel.KLINE, a, Interval.M1), Subscription(Channel.QUOTE, b)]
    seen = await collect(adapter, subs, until=1)
    assert {channel for channel, _ in seen} == set(Channel)
    assert seen[(Channel.QUOTE, b)] >= 1
    assert adapter.stream_stats.resyncs.total() == 0
    assert adapter.stream_stats.snapshots[a] == 1


async def test_stream_klines_of_every_interval(adapter: BinanceAdapter) -> None:
    symbol = (await symbols(adapter, 1))[0]
    seen: dict[Interval, Kline] = {}
    stream = adapter.stream([Subscription(Channel.KLINE, symbol, i) for i in ALL_INTERVALS])
    async with asyncio.timeout(30):
        async for batch in stream:
            seen.update((r.interval, r) for r in batch if isinstance(r, Kline))
            if len(seen) == len(ALL_INTERVALS):
                break
    await stream.aclose()  # type: ignore[attr-defined]
    assert set(seen) == set(ALL_INTERVALS)
    for interval, kline in seen.items():
        assert kline.open_time == interval.open_time(kline.open_time)
        assert kline.event_time is not None


async def test_stream_books_are_sorted_and_sequenced(adapter: BinanceAdapter) -> None:
    symbol = (await symbols(adapter, 1))[0]
    books: list[OrderBook] = []
    stream = adapter.stream([Subscription(Channel.DEPTH, symbol)])
    async with asyncio.timeout(30):
        async for batch in stream:
            books.extend(r for r in batch if isinstance(r, OrderBook))
            if len(books) >= 5:
                break
    await stream.aclose()  # type: ignore[attr-defined]
    sequences = [b.sequence or 0 for b in books]
    assert sequences == sorted(sequences)
    for book in books:
        assert len(book.bids) == len(book.asks) == DEPTH
        assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
        assert book.bids[0][0] < book.asks[0][0]


async def test_sharded_and_subscribed_by_message(
    venue: SimulatedVenue, adapter: BinanceAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "URL_STREAMS", 1)  # the second stream of a shard goes by SUBSCRIBE
    adapter.max_streams_per_connection = 2  # type: ignore[misc]
    wanted = await symbols(adapter, 3)
    seen: set[str] = set()
    stream = adapter.stream([Subscription(Channel.QUOTE, s) for s in wanted])
    async with asyncio.timeout(30):
        async for batch in stream:
            seen |= {r.symbol for r in batch}
            if seen == set(wanted):
                break
    connections = len(venue.hub.connections)  # type: ignore[attr-defined]
    await stream.aclose()  # type: ignore[attr-defined]
    assert connections == 2  # three streams, at most two per connection


async def test_depth_gap_resyncs_without_reconnecting(venue: SimulatedVenue, adapter: BinanceAdapter) -> None:
    symbol = (await symbols(adapter, 1))[0]
    venue.faults.update({"gap_every": 4})  # type: ignore[attr-defined]
    books: list[OrderBook] = []
    stream = adapter.stream([Subscription(Channel.DEPTH, symbol)])
    async with asyncio.timeout(30):
        async for batch in stream:
            books.extend(r for r in batch if isinstance(r, OrderBook))
            if adapter.stream_stats.resyncs[symbol] >= 2 and adapter.stream_stats.snapshots[symbol] >= 3:
                break
    await stream.aclose()  # type: ignore[attr-defined]
    assert adapter.stream_stats.resyncs[symbol] >= 2
    assert books
    assert all(b.symbol == symbol for b in books)


async def test_disconnect_raises_transient(venue: SimulatedVenue, adapter: BinanceAdapter) -> None:
    symbol = (await symbols(adapter, 1))[0]
    stream = adapter.stream([Subscription(Channel.QUOTE, symbol)])
    with pytest.raises(TransientError):
        await consume_while(stream, venue.disconnect_all)  # type: ignore[attr-defined]


async def read_for(stream: AsyncIterator[Sequence[Record]], seconds: float) -> list[tuple[float, Record]]:
    """Every record ``stream`` delivers in ``seconds`` (it must not fail), with the loop time it came."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    received: list[tuple[float, Record]] = []
    try:
        while (left := until - loop.time()) > 0:
            try:
                batch = await asyncio.wait_for(anext(stream), left)
            except TimeoutError:
                break
            received += [(loop.time(), record) for record in batch]
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return received


def live_subscriptions(symbol: str) -> list[Subscription]:
    return [Subscription(c, symbol) for c in (Channel.QUOTE, Channel.TRADES, Channel.DEPTH)]


async def test_server_shutdown_replaces_the_connection_without_a_gap(
    venue: SimulatedVenue, adapter: BinanceAdapter
) -> None:
    """On ``serverShutdown`` the stream opens a new connection while the old one still delivers, then
    closes the old one: it never fails, and the order book goes on from the same snapshot."""
    symbol = (await symbols(adapter, 1))[0]
    stream = adapter.stream(live_subscriptions(symbol))
    first = await anext(stream)
    assert first
    loop = asyncio.get_running_loop()
    announced = loop.time()
    venue.server_shutdown(close_after_ms=500)  # type: ignore[attr-defined]
    received = await read_for(stream, 3.0)
    stats = adapter.stream_stats
    assert stats.renewals == 1
    assert stats.resyncs.total() == 0 and stats.snapshots.total() == 1  # no second snapshot
    for channel in (Channel.QUOTE, Channel.DEPTH):  # delivered on after the old connection closed
        assert any(t > announced + 1.5 and r.channel is channel for t, r in received)  # type: ignore[attr-defined]
    assert len(venue.hub.connections) == 1  # type: ignore[attr-defined]


async def test_a_refused_replacement_is_tried_again_while_the_old_connection_delivers(
    venue: SimulatedVenue, adapter: BinanceAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    symbol = (await symbols(adapter, 1))[0]
    stream = adapter.stream(live_subscriptions(symbol))
    assert await anext(stream)
    venue.faults.update({"refuse_connections": 2})  # type: ignore[attr-defined]
    venue.server_shutdown(close_after_ms=4_000)  # type: ignore[attr-defined]
    await read_for(stream, 3.0)  # tries at 0 and 0.5 s fail (503), the one at 1.5 s takes over
    assert adapter.stream_stats.renewals == 1
    assert adapter.stream_stats.snapshots.total() == 1
    retries = [r for r in caplog.records if "trying again" in r.getMessage()]
    assert len(retries) == 2 and "503" in retries[0].getMessage()


async def test_a_connection_is_replaced_before_the_venue_cuts_it() -> None:
    """Binance cuts a connection at 24 hours: the stream replaces it before (here: the venue's lifetime
    is 2 s, and the adapter's replacement is due after 1 s)."""
    venue = await start_venue(lifetime=2.0)
    try:
        async with BinanceAdapter(config(venue)) as adapter:
            adapter.renew_after = 1.0
            symbol = (await symbols(adapter, 1))[0]
            received = await read_for(adapter.stream(live_subscriptions(symbol)), 4.5)
            stats = adapter.stream_stats
            assert stats.renewals >= 2
            assert stats.resyncs.total() == 0 and stats.snapshots.total() == 1
            assert received[-1][0] - received[0][0] > 3.5
    finally:
        await venue.stop()


async def test_rest_faults_are_translated(venue: SimulatedVenue, adapter: BinanceAdapter) -> None:
    symbol = (await symbols(adapter, 1))[0]
    venue.faults.update({"malformed_every": 1})  # type: ignore[attr-defined]
    with pytest.raises(BadResponseError):
        await adapter.fetch_ticker(symbol)
    venue.faults.update({"reset": True, "http_error_every": 1})  # type: ignore[attr-defined]
    with pytest.raises(TransientError):
        await adapter.fetch_ticker(symbol)


async def test_rate_limit_then_ban() -> None:
    # the weights below must fall in one window: when a minute boundary fell between them (a chance
    # of the test's length in a minute), the window reset and the 429 never came
    venue = await start_venue(faults={"weight_limit": 30}, clock=MinuteStartClock())
    try:
        async with BinanceAdapter(config(venue)) as adapter:
            await adapter.load_markets()  # weight 20
            with pytest.raises(RateLimitedError) as limited:
                await adapter.fetch_trades("BTC/USDT")  # weight 25: 45 > 30
            assert not limited.value.banned
            assert limited.value.retry_after is not None
            assert 0 < limited.value.retry_after <= 60
            refusals: list[RateLimitedError] = []
            for _ in range(5):  # keep ignoring the 429s: Binance answers 418 and bans the IP
                try:
                    await adapter.fetch_price("BTC/USDT")
                except RateLimitedError as exc:
                    refusals.append(exc)
                    if exc.banned:
                        break
            assert len(refusals) >= 2
            assert refusals[-1].banned
            assert refusals[-1].retry_after is not None
    finally:
        await venue.stop()


async def test_credentials_never_leak(venue: SimulatedVenue, caplog: pytest.LogCaptureFixture) -> None:
    key, secret = "AKIAKEY0123456789abcdef", "s3cr3t-value-9876543210"
    cfg = config(venue, credentials=Credentials(api_key=SecretStr(key), secret=SecretStr(secret)))
    caplog.set_level("DEBUG")
    texts: list[str] = []
    async with BinanceAdapter(cfg) as adapter:
        await adapter.load_markets()
        texts += [repr(adapter), str(adapter), repr(cfg), str(cfg), cfg.model_dump_json()]
        venue.faults.update({"http_error_every": 1})  # type: ignore[attr-defined]
        with pytest.raises(TransientError) as failed:
            await adapter.fetch_price("BTC/USDT")
        texts += [str(failed.value), repr(failed.value)]
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        assert key not in text
        assert secret not in text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, 1_000),  # the default bound
        ({"book_max_levels": 0}, 0),  # no bound
        ({"book_max_levels": 5_000}, 5_000),
        ({"book_max_levels": 10}, 1_000),  # never fewer than the deepest snapshot holds
        ({"book_max_levels": 10, "snapshot_limit_max": 500}, 500),
        ({"book_max_levels": 10, "snapshot_limit": 5_000}, 5_000),
    ],
)
def test_local_books_are_bounded_by_an_option(
    venue: SimulatedVenue, options: dict[str, Any], expected: int
) -> None:
    assert BinanceAdapter(config(venue, options=options)).book_max_levels() == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, [100, 500, 1_000]),  # 5x the 20 served levels, then deeper on each refresh
        ({"snapshot_limit_max": 100}, [100]),  # never deeper
        ({"snapshot_limit": 500, "snapshot_limit_max": 5_000}, [500, 1_000, 5_000]),
        ({"snapshot_limit": 5_000}, [5_000]),  # a first size deeper than the default most
        ({"snapshot_limit_max": 7}, [100, 500, 1_000]),  # not a size Binance takes: the default
    ],
)
def test_snapshot_sizes_step_up_to_an_option(
    venue: SimulatedVenue, options: dict[str, Any], expected: list[int]
) -> None:
    assert BinanceAdapter(config(venue, options=options)).snapshot_limits() == expected
