"""The Redis store against a real redis-server: round trips, conflation, retention, outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import orjson
import pytest
import redis

from core.errors import StorageError
from core.intervals import ALL_INTERVALS, Interval
from core.models import Channel, Kline, Market, OrderBook, Price, Quote, Ticker, Trade
from core.store import KeySchema, RankedItem, StoreReader, StoreWriter
from core.store.codec import decode
from tests import factories as f
from tests.support.collector import ManualClock
from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import Swallow, TcpProxy

KEYS = KeySchema()


@pytest.fixture
async def writer(redis_url: str) -> AsyncIterator[StoreWriter]:
    async with StoreWriter(redis_url, flush_interval=3600) as w:  # flushed by hand in tests
        yield w


@pytest.fixture
async def reader(redis_url: str) -> AsyncIterator[StoreReader]:
    async with StoreReader(redis_url) as r:
        yield r


@pytest.mark.parametrize(
    ("record", "model"),
    [(f.ticker(), Ticker), (f.quote(), Quote), (f.price(), Price), (f.book(), OrderBook)],
)
async def test_latest_values_round_trip_exactly(
    writer: StoreWriter, reader: StoreReader, record: Ticker | Quote | Price | OrderBook, model: type
) -> None:
    writer.put(record)
    await writer.flush()
    raw = await reader.latest(f.INSTANCE, record.symbol, record.channel)
    assert raw is not None
    assert decode(raw, model) == record
    assert b'"0.00001230"' in raw or b"43210.11000000" in raw  # exact text, trailing zeros kept


async def test_a_before_flush_hook_queues_into_that_flush_and_a_failing_one_is_logged(
    writer: StoreWriter, reader: StoreReader, caplog: pytest.LogCaptureFixture
) -> None:
    def failing() -> None:
        raise RuntimeError("boom")

    writer.before_flush(failing)
    writer.before_flush(lambda: writer.put(f.quote()))
    await writer.flush()
    assert await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE) is not None  # in the same flush
    assert "a before-flush hook failed" in caplog.text and "boom" in caplog.text


async def test_decimal_text_is_never_reformatted(writer: StoreWriter, reader: StoreReader) -> None:
    writer.put(f.price(value="0.00000001"))
    await writer.flush()
    raw = await reader.latest(f.INSTANCE, "BTC/USDT", Channel.PRICE)
    assert raw is not None and b'"price":"0.00000001"' in raw  # not 1E-8


async def test_markets_round_trip_and_registry(writer: StoreWriter, reader: StoreReader) -> None:
    markets = [f.market("BTC/USDT"), f.market("ETH/BTC")]
    writer.put_markets(f.INSTANCE, markets, {"plugin": "binance", "simulated": True})
    await writer.flush()
    assert await reader.markets(f.INSTANCE) == sorted(markets, key=lambda m: m.symbol)
    assert await reader.market_symbols(f.INSTANCE) == ["BTC/USDT", "ETH/BTC"]
    assert (await reader.instances())[f.INSTANCE] == {"plugin": "binance", "simulated": True}
    writer.put_markets(f.INSTANCE, markets[:1], {"plugin": "binance", "simulated": True})
    await writer.flush()
    assert await reader.market_symbols(f.INSTANCE) == ["BTC/USDT"]  # replaced, not merged
    assert isinstance((await reader.markets(f.INSTANCE))[0], Market)


async def test_conflation_writes_only_the_newest_value(writer: StoreWriter, reader: StoreReader) -> None:
    for i in range(100):
        writer.put(f.quote(bid=f"100.{i:02d}", t=f.T0 + i))
    commands = await writer.flush()
    raw = await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE)
    assert raw is not None and str(decode(raw, Quote).bid) == "100.99"
    assert commands < 10  # 100 updates of one key: one MSET, not 100 SETs


async def test_every_update_is_published_in_order(writer: StoreWriter, reader: StoreReader) -> None:
    received: list[str] = []

    async def listen() -> None:
        async for instance, records in reader.events([f.INSTANCE]):
            assert instance == f.INSTANCE
            received.extend(r["bid"] for r in records)
            if len(received) >= 5:
                return

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.2)  # let the subscription land
    for i in range(5):
        writer.put(f.quote(bid=f"1.{i}"))
    await writer.flush()
    await asyncio.wait_for(task, 5)
    assert received == ["1.0", "1.1", "1.2", "1.3", "1.4"]


async def test_klines_upsert_by_open_time_for_every_interval(
    writer: StoreWriter, reader: StoreReader
) -> None:
    for interval in ALL_INTERVALS:
        writer.put(f.kline(interval=interval, close="1.0", closed=False))
        await writer.flush()
        writer.put(f.kline(interval=interval, close="2.0", closed=True))  # same candle, updated
        await writer.flush()
        stored = [decode(v, Kline) for v in await reader.klines_range(f.INSTANCE, "BTC/USDT", interval)]
        assert [(str(k.close), k.closed) for k in stored] == [("2.0", True)]


async def test_kline_retention_cap(redis_url: str) -> None:
    async with StoreWriter(redis_url, flush_interval=3600, kline_retention={Interval.M1: 5}) as writer:
        for i in range(12):
            writer.put(f.kline(open_time=f.T0 + i * 60_000))
        await writer.flush()
    async with StoreReader(redis_url) as reader:
        stored = [decode(v, Kline) for v in await reader.klines_range(f.INSTANCE, "BTC/USDT", Interval.M1)]
    expected = [Interval.M1.open_time(f.T0 + i * 60_000) for i in range(7, 12)]
    assert [k.open_time for k in stored] == expected  # the newest 5 kept, oldest first


async def test_kline_pages_newest_first(writer: StoreWriter, reader: StoreReader) -> None:
    for i in range(25):
        writer.put(f.kline(open_time=f.T0 + i * 60_000))
    await writer.flush()
    pages = [
        await reader.klines_page(f.INSTANCE, "BTC/USDT", Interval.M1, page=p, page_size=10)
        for p in (1, 2, 3, 4)
    ]
    times = [decode(v, Kline).open_time for page in pages for v in page]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert times == sorted(times, reverse=True) and len(set(times)) == 25


async def test_trades_are_capped_and_paged_by_cursor(redis_url: str) -> None:
    async with StoreWriter(redis_url, flush_interval=3600, trades_cap=50) as writer:
        for i in range(1, 301):
            writer.put(f.trade(trade_id=i))
        await writer.flush()
    async with StoreReader(redis_url) as reader:
        seen: list[str] = []
        cursor: str | None = None
        while True:
            page = await reader.trades(f.INSTANCE, "BTC/USDT", limit=7, cursor=cursor)
            seen += [decode(v, Trade).id for v in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen[0] == "300"  # newest first
    assert seen == [str(i) for i in range(300, 300 - len(seen), -1)]  # no repeats, no skips
    assert 50 <= len(seen) < 300  # capped (MAXLEN ~ trims whole nodes, so at least the cap is kept)


async def test_freshness_is_recorded_per_channel(writer: StoreWriter, reader: StoreReader) -> None:
    writer.put(f.quote(t=f.T0))
    writer.put(f.kline(interval=Interval.H1))
    await writer.flush()
    fresh = await reader.freshness(f.INSTANCE)
    assert fresh["BTC-USDT:quote"] == f.T0 + 1
    assert "BTC-USDT:kline:1h" in fresh


async def test_writes_go_to_the_configured_db(redis_server: RedisServer, redis_url: str) -> None:
    async with StoreWriter(redis_server.url(5), flush_interval=3600) as writer:
        writer.put(f.price())
        await writer.flush()
    key = KEYS.latest(f.INSTANCE, "BTC/USDT", Channel.PRICE)
    db5 = redis.Redis.from_url(redis_server.url(5))
    db2 = redis.Redis.from_url(redis_server.url(2))
    try:
        assert db5.exists(key) == 1 and db2.exists(key) == 0
    finally:
        db5.close()
        db2.close()


async def test_redis_down_keeps_data_and_recovers(redis_server: RedisServer, redis_url: str) -> None:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        writer.put_markets(f.INSTANCE, [f.market()], {"plugin": "x"})
        writer.put(f.ticker(last="1.00"))
        await writer.flush()
        redis_server.stop()
        try:
            writer.put(f.ticker(last="2.00"))
            writer.put(f.trade(trade_id=7))
            with pytest.raises(StorageError, match="redis: flush failed"):
                await writer.flush()
            writer.put(f.quote(bid="3.00"))
            with pytest.raises(StorageError):
                await writer.flush()
            assert writer.stats.failures == 2 and not writer.stats.connected
        finally:
            redis_server.start()  # a fresh server: everything written before is gone
        await writer.flush()
        await writer.flush()  # the reset was noticed: latest state and markets are rewritten
        assert writer.stats.resets == 1
        await writer.flush()  # the writer's own counters, failures and reset, go out
    async with StoreReader(redis_url) as reader:
        counts = await reader.store_stats()  # (the first failure may be unanswered_flushes too: the
        assert counts["failed_flushes"] == 2 and counts["resets"] == 1  # link may not know yet)
        ticker = await reader.latest(f.INSTANCE, "BTC/USDT", Channel.TICKER)
        quote = await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE)
        trades = await reader.trades(f.INSTANCE, "BTC/USDT")
        assert ticker is not None and str(decode(ticker, Ticker).last) == "2.00"
        assert quote is not None and str(decode(quote, Quote).bid) == "3.00"
        assert [decode(t, Trade).id for t in trades.items] == ["7"]
        assert await reader.market_symbols(f.INSTANCE) == ["BTC/USDT"]


async def test_buffer_is_bounded_while_redis_is_down(redis_server: RedisServer, redis_url: str) -> None:
    async with StoreWriter(redis_url, flush_interval=3600, max_buffered=100) as writer:
        redis_server.stop()
        try:
            for i in range(500):
                writer.put(f.trade(trade_id=i))
            with pytest.raises(StorageError):
                await writer.flush()
            assert writer.pending_count() <= 100
            assert writer.stats.dropped >= 400
        finally:
            redis_server.start()
        await writer.flush()


async def test_reader_raises_storage_error_when_redis_is_down(
    redis_server: RedisServer, redis_url: str
) -> None:
    async with StoreReader(redis_url, timeout=0.5) as reader:
        redis_server.stop()
        try:
            with pytest.raises(StorageError):
                await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE)
        finally:
            redis_server.start()
        assert await reader.ping()


async def test_flush_loop_runs_on_its_own(redis_url: str, reader: StoreReader) -> None:
    async with StoreWriter(redis_url, flush_interval=0.01) as writer:
        writer.put(f.price(value="5.5"))
        for _ in range(200):
            if await reader.latest(f.INSTANCE, "BTC/USDT", Channel.PRICE):
                break
            await asyncio.sleep(0.01)
    assert await reader.latest(f.INSTANCE, "BTC/USDT", Channel.PRICE) is not None


async def test_history_is_written_in_bounded_chunks(redis_url: str, reader: StoreReader) -> None:
    async with StoreWriter(redis_url, flush_interval=3600, history_per_flush=100) as writer:
        await writer.put_history([f.kline(open_time=f.T0 + i * 60_000) for i in range(250)])
        writer.put(f.quote())
        await writer.flush()  # the live quote and the first 100 candles
        assert await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE) is not None
        assert await reader.kline_count(f.INSTANCE, "BTC/USDT", Interval.M1) == 100
        await writer.flush()
        await writer.flush()
        assert await reader.kline_count(f.INSTANCE, "BTC/USDT", Interval.M1) == 250


async def test_history_never_overwrites_the_live_candle(redis_url: str, reader: StoreReader) -> None:
    live_open = f.T0 + 5 * 60_000
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        writer.put(f.kline(open_time=live_open, close="9.99", closed=False))  # from the stream
        await writer.put_history([f.kline(open_time=f.T0 + i * 60_000, close="1.00") for i in range(7)])
        await writer.flush()
    stored = [decode(v, Kline) for v in await reader.klines_range(f.INSTANCE, "BTC/USDT", Interval.M1)]
    by_open = {k.open_time: str(k.close) for k in stored}
    assert by_open[Interval.M1.open_time(live_open)] == "9.99"  # the stream's candle kept
    assert len(by_open) == 6  # 5 past candles + the live one; later history belongs to the stream


async def test_history_waits_for_room_and_survives_an_outage(
    redis_server: RedisServer, redis_url: str, reader: StoreReader
) -> None:
    async with StoreWriter(redis_url, flush_interval=0.01, history_per_flush=50, max_history=100) as writer:
        await writer.put_history([f.kline(open_time=f.T0 + i * 60_000) for i in range(400)])  # waits
        redis_server.stop()
        try:
            await writer.put_history([f.kline(open_time=f.T0 + (400 + i) * 60_000) for i in range(50)])
            await asyncio.sleep(0.1)
        finally:
            redis_server.start()
        for _ in range(300):
            if writer.pending_count() == 0:
                break
            await asyncio.sleep(0.01)
    count = await reader.kline_count(f.INSTANCE, "BTC/USDT", Interval.M1)
    assert (
        count >= 50
    )  # what was queued during the outage was written after it (earlier data died with redis)


class _SlowFlushClock(ManualClock):
    """Each monotonic reading is 0.15 s after the previous one: every flush "takes" 0.15 s. Sleeps
    are real, so the writer's own flush loop (hourly here) stays out of the way."""

    def monotonic(self) -> float:
        self.t += 0.15
        return self.t

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_slow_flushes_are_timed_counted_and_logged(
    redis_url: str, reader: StoreReader, caplog: pytest.LogCaptureFixture
) -> None:
    async with StoreWriter(redis_url, flush_interval=3600, clock=_SlowFlushClock()) as writer:
        for n in range(3):
            writer.put(f.quote(bid=f"{100 + n}.5"))
            await writer.flush()
        assert writer.stats.slow_flushes == 3
        assert writer.stats.last_flush_seconds == pytest.approx(0.15)
    slow = [r for r in caplog.records if "store: a flush of" in r.getMessage()]
    assert len(slow) == 1  # then at most one every 10 s
    assert (await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE)) is not None


async def test_closing_lets_a_flush_under_way_finish(redis_url: str) -> None:
    """A flush the loop started (its batch taken, its transaction waiting for Redis) when the writer
    is closed still lands: closing waits for it instead of cancelling it (6 runs in 150 lost their
    last writes before)."""
    client = redis.Redis.from_url(redis_url)
    writer = StoreWriter(redis_url, flush_interval=0.005)
    await writer.start()
    try:
        client.client_pause(400, all=False)  # Redis holds writes back for now
        writer.incr("x", "c", 7)
        await asyncio.sleep(0.05)  # the loop's flush took the batch; its transaction waits
        assert writer.pending_count() == 0 and writer.stats.flushes == 0
        await asyncio.wait_for(writer.aclose(), 10)
        assert writer.stats.flushes >= 1 and writer.stats.failures == 0  # (then its slow-flush count)
        assert client.hget(KeySchema().stats("x"), "c") == b"7"
    finally:
        client.client_unpause()
        client.close()


async def test_flushes_while_redis_is_slow_keep_their_order(redis_url: str, reader: StoreReader) -> None:
    """Records put while a flush waits for Redis go out in the next flushes, in order: the newest
    quote wins and every trade is stored once, in sequence."""
    client = redis.Redis.from_url(redis_url)
    try:
        async with StoreWriter(redis_url, flush_interval=0.002) as writer:
            writer.put(f.quote(bid="1.0"))
            writer.put(f.trade(trade_id=1))
            await writer.flush()
            client.client_pause(300, all=False)  # the next flush waits for Redis
            for n in range(2, 40):
                writer.put(f.quote(bid=f"{n}.0"))
                writer.put(f.trade(trade_id=n))
                await asyncio.sleep(0.01)  # periodic flushes come due meanwhile
            await writer.flush()
        raw = await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE)
        assert raw is not None and decode(raw, Quote).bid == Decimal("39.0")
        page = await reader.trades(f.INSTANCE, "BTC/USDT", limit=100)
        assert [decode(v, Trade).id for v in page.items] == [str(n) for n in range(39, 0, -1)]
    finally:
        client.client_unpause()
        client.close()


async def test_flushes_asked_for_at_once_all_land(redis_url: str, reader: StoreReader) -> None:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        writer.put(f.price(value="1.5"))
        first = asyncio.create_task(writer.flush())
        await asyncio.sleep(0)
        writer.put(f.quote())
        second = asyncio.create_task(writer.flush())
        assert await first > 0 and await second > 0
    assert await reader.latest(f.INSTANCE, "BTC/USDT", Channel.PRICE) is not None
    assert await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE) is not None


async def test_an_argument_redis_cannot_take_is_dropped_alone(
    redis_url: str, reader: StoreReader, caplog: pytest.LogCaptureFixture
) -> None:
    """A counter step beyond 64 bits cannot be sent: that command is dropped, logged and counted;
    the rest of its flush lands, and it is not sent again (it would fail every flush)."""
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        writer.incr("x", "huge", 2**70)
        writer.incr("x", "fine", 3)
        writer.put(f.quote(bid="1.0"))
        assert await asyncio.wait_for(writer.flush(), 10) > 0
        writer.put(f.quote(bid="2.0"))
        await asyncio.wait_for(writer.flush(), 10)
        assert writer.stats.refused == 1 and writer.stats.failures == 0
    raw = await reader.latest(f.INSTANCE, "BTC/USDT", Channel.QUOTE)
    assert raw is not None and decode(raw, Quote).bid == Decimal("2.0")
    assert await reader.stats("x") == {"fine": 3}
    assert "HINCRBY qw:" in caplog.text and "beyond 64 bits" in caplog.text


async def test_keys_redis_refuses_lose_only_their_own_writes(
    redis_url: str, reader: StoreReader, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys of the wrong type (a trade stream, a K-line set, a counter that is not a number): Redis
    refuses their writes when the transaction runs, and the rest of it took effect. Those writes are
    dropped, logged by key and counted, never retried; every other key is written, then and after."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.set(KEYS.trades(f.INSTANCE, "BTC/USDT"), "not a stream")
        client.set(KEYS.klines(f.INSTANCE, "BTC/USDT", Interval.M1), "not a set")
        client.hset(KEYS.stats("x"), "text", "abc")
        async with StoreWriter(redis_url, flush_interval=3600) as writer:
            writer.put(f.trade("BTC/USDT", trade_id=1))
            writer.put(f.trade("ETH/USDT", trade_id=2))
            writer.put(f.kline("BTC/USDT", Interval.M1))
            writer.put(f.kline("ETH/USDT", Interval.M1))
            writer.incr("x", "text", 1)
            writer.incr("x", "n", 1)
            await asyncio.wait_for(writer.flush(), 10)
            assert writer.stats.refused == 3 and writer.stats.failures == 0
            writer.put(f.trade("ETH/USDT", trade_id=3))
            await asyncio.wait_for(writer.flush(), 10)
            assert writer.stats.refused == 3 and writer.stats.failures == 0
        assert await reader.store_stats() == {"refused": 3}
        eth = await reader.trades(f.INSTANCE, "ETH/USDT", limit=10)
        assert [decode(v, Trade).id for v in eth.items] == ["3", "2"]
        assert await reader.klines_page(f.INSTANCE, "ETH/USDT", Interval.M1, page=1, page_size=10)
        assert client.get(KEYS.trades(f.INSTANCE, "BTC/USDT")) == b"not a stream"
        assert client.hget(KEYS.stats("x"), "n") == b"1"
        assert KEYS.trades(f.INSTANCE, "BTC/USDT") in caplog.text and "WRONGTYPE" in caplog.text
        assert KEYS.klines(f.INSTANCE, "BTC/USDT", Interval.M1) in caplog.text
        assert f"HINCRBY {KEYS.stats('x')}" in caplog.text
    finally:
        client.close()


@pytest.mark.parametrize("lost", ["replies", "requests"])
async def test_a_flush_whose_answer_was_lost_is_written_once(
    lost: Swallow, redis_server: RedisServer, redis_url: str, reader: StoreReader
) -> None:
    """The flush's answer never comes, so it fails by timeout. ``replies`` lost: the transaction
    ran, the next connection reads from the sentinel that it did, and its trades, counters and
    events are not appended again. ``requests`` lost: it never reached Redis, the sentinel shows it
    did not run, and it goes out with the next flush, once."""
    client = redis.Redis.from_url(redis_url)
    events = client.pubsub()
    events.subscribe(KEYS.events(f.INSTANCE))
    try:
        async with (
            TcpProxy("127.0.0.1", redis_server.port) as proxy,
            StoreWriter(proxy.url(redis_url), flush_interval=3600, reply_timeout=0.3) as writer,
        ):
            writer.put(f.trade(trade_id=1))
            await asyncio.wait_for(writer.flush(), 10)
            proxy.swallow = lost
            writer.put(f.trade(trade_id=2))
            writer.incr("x", "c", 7)
            writer.put_opportunities(f.INSTANCE, [RankedItem("cycle", 0.01, f.price())], [], f.T0)
            with pytest.raises(StorageError, match="no answer"):
                await asyncio.wait_for(writer.flush(), 10)
            assert writer.stats.unanswered == 1
            proxy.swallow = None
            writer.put(f.trade(trade_id=3))
            await asyncio.wait_for(writer.flush(), 10)
        stored = await reader.trades(f.INSTANCE, "BTC/USDT", limit=100)
        assert [decode(v, Trade).id for v in stored.items] == ["3", "2", "1"]
        assert client.hget(KEYS.stats("x"), "c") == b"7"
        published = _published(events)  # each once (a retried flush's opportunity events go last)
        assert [item for item in published if item[0] == "trades"] == [("trades", n) for n in "123"]
        assert [item for item in published if item[0] == "arbitrage"] == [("arbitrage", "cycle")]
        if lost == "replies":  # it ran in its turn
            assert published == [("trades", "1"), ("trades", "2"), ("arbitrage", "cycle"), ("trades", "3")]
        assert client.zrange(KEYS.arbitrage(f.INSTANCE), 0, -1) == [b"cycle"]
    finally:
        events.close()
        client.close()


def _published(events: redis.client.PubSub) -> list[tuple[str, str]]:
    """The (channel, id) of the trades and opportunity events published so far, in order."""
    published: list[tuple[str, str]] = []
    while (message := events.get_message(timeout=0.2)) is not None:
        if message["type"] == "message":
            published += [(e["channel"], e["id"]) for e in orjson.loads(message["data"])]
    return published
