"""``quotewire arbitrage``: engines fed from the store's events, on a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from core.arbitrage import ArbitrageObserver, ArbitrageSettings, Opportunity
from core.arbitrage.service import ArbitrageService, _Inbox, record_of, service_settings
from core.config import InstanceConfig, parse_config
from core.errors import StorageError
from core.models import Ticker
from core.plugins import PluginHost
from core.store import StoreReader, StoreWriter
from core.store.codec import encode
from core.store.keys import KeySchema
from quotewire.cli import main
from tests.arbitrage.support import INSTANCE, book, quote
from tests.arbitrage.test_redis_sink import FORWARD, MARKETS, mispriced
from tests.support.collector_e2e import running_task
from tests.support.redis_server import RedisServer

SETTINGS = {INSTANCE: ArbitrageSettings(taker_fee=Decimal("0.001"), runs_in="service")}
NET_RETURN = Decimal("0.0967032989")  # the same cycle the in-collector observer finds (test_redis_sink)


@pytest.fixture
async def collector(redis_url: str) -> AsyncIterator[StoreWriter]:
    """The collector's side: a store writer flushing every 10 ms, as ``quotewire collect``'s does."""
    async with StoreWriter(redis_url) as writer:
        yield writer


def running(service: ArbitrageService) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    return running_task(service.run(), "arbitrage-service")


async def eventually_true(check: object, within: float = 10.0) -> None:
    """Poll ``check()`` (sync or async) until it holds; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            with contextlib.suppress(StorageError):
                result = check()  # type: ignore[operator]
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return
            await asyncio.sleep(0.02)


async def found(redis_url: str) -> list[tuple[str, Decimal]]:
    async with StoreReader(redis_url) as reader:
        documents = await reader.opportunities(INSTANCE)
    return [(o.id, o.net_return) for o in map(Opportunity.model_validate_json, documents)]


async def test_opportunities_follow_the_records_the_collector_publishes(
    redis_url: str, collector: StoreWriter
) -> None:
    collector.put_markets(INSTANCE, MARKETS, {"plugin": "binance"})
    await collector.flush()
    service = ArbitrageService(redis_url, SETTINGS)
    async with running(service):
        await eventually_true(lambda: service.resyncs == 1)  # subscribed, markets and latest state read
        collector.put_many(mispriced())  # type: ignore[arg-type]
        await eventually_true(lambda: found(redis_url))
        assert await found(redis_url) == [(FORWARD, NET_RETURN)]
        collector.put(quote("ETH/USDT", "10", "100", "10.01", "500"))  # the cycle closes
        await eventually_true(lambda: _none(redis_url))
        assert service.resyncs == 1 and service.malformed == 0


async def _none(redis_url: str) -> bool:
    return await found(redis_url) == []


async def test_a_service_started_later_reads_the_latest_state(redis_url: str, collector: StoreWriter) -> None:
    """Nothing is published after it starts: what it finds comes from the stored latest quotes."""
    collector.put_markets(INSTANCE, MARKETS, {"plugin": "binance"})
    collector.put_many(mispriced())  # type: ignore[arg-type]
    await collector.flush()
    async with running(ArbitrageService(redis_url, SETTINGS)):
        await eventually_true(lambda: found(redis_url))
        assert await found(redis_url) == [(FORWARD, NET_RETURN)]


async def test_markets_stored_after_the_service_started_are_picked_up(
    redis_url: str, collector: StoreWriter
) -> None:
    """Started beside its collector, before any market is stored, the service finds them soon after."""
    service = ArbitrageService(redis_url, SETTINGS)
    async with running(service):
        await eventually_true(lambda: service.resyncs == 1)
        collector.put_many(mispriced())  # type: ignore[arg-type]
        # no markets stored yet: the engine has no graph to apply these to
        await collector.flush()
        collector.put_markets(INSTANCE, MARKETS, {"plugin": "binance"})
        await eventually_true(lambda: found(redis_url))
        assert await found(redis_url) == [(FORWARD, NET_RETURN)]
        assert service.resyncs == 2  # the markets appeared: the latest state was read again


async def test_a_market_change_rebuilds_the_engine_but_a_new_reading_time_does_not(
    redis_url: str, collector: StoreWriter
) -> None:
    collector.put_markets(INSTANCE, MARKETS, {"plugin": "binance"})
    await collector.flush()
    service = ArbitrageService(redis_url, SETTINGS, markets_check=0.05)
    async with running(service):
        await eventually_true(lambda: service.resyncs == 1)
        reread = [m.model_copy(update={"receive_time": 99}) for m in MARKETS]
        collector.put_markets(INSTANCE, reread, {"plugin": "binance"})
        await collector.flush()
        await asyncio.sleep(0.3)
        assert service.resyncs == 1
        collector.put_markets(INSTANCE, MARKETS[:3], {"plugin": "binance"})  # LTC/USDT delisted
        await eventually_true(lambda: service.resyncs == 2)
        assert len(service.observers[INSTANCE].engine.graph.markets) == 3


async def test_malformed_records_are_skipped_and_counted(redis_url: str, collector: StoreWriter) -> None:
    collector.put_markets(INSTANCE, MARKETS, {"plugin": "binance"})
    await collector.flush()
    service = ArbitrageService(redis_url, SETTINGS)
    async with running(service) as task:
        await eventually_true(lambda: service.resyncs == 1)
        bad = orjson.loads(encode(quote("BTC/USDT", "99.9", "5", "100", "1")))
        bad["bid"] = "not a price"
        good = [orjson.loads(encode(record)) for record in mispriced()]  # type: ignore[arg-type]
        client = aioredis.Redis.from_url(redis_url)
        try:
            for flush in ([bad, "not a record", {"channel": "kline"}], good):
                await client.publish(KeySchema().events(INSTANCE), orjson.dumps(flush))
        finally:
            await client.aclose()
        await eventually_true(lambda: found(redis_url))
        assert await found(redis_url) == [(FORWARD, NET_RETURN)]
        assert service.malformed == 1 and not task.done()


async def test_redis_restarted_the_service_subscribes_again_and_rereads(
    redis_server: RedisServer, redis_url: str, collector: StoreWriter
) -> None:
    """Redis goes away and comes back empty: the collector's writer rewrites its latest state, the
    service subscribes again, reads it, and the opportunity is back (nothing published meanwhile)."""
    collector.put_markets(INSTANCE, MARKETS, {"plugin": "binance"})
    collector.put_many(mispriced())  # type: ignore[arg-type]
    await collector.flush()
    service = ArbitrageService(redis_url, SETTINGS)
    async with running(service) as task:
        await eventually_true(lambda: found(redis_url))
        redis_server.stop()
        try:
            await asyncio.sleep(1.0)
            assert not task.done()
        finally:
            redis_server.start()

        async def found_while_collecting() -> list[tuple[str, Decimal]]:
            collector.put(quote("LTC/USDT", "50", "1", "50.1", "1"))  # the collector goes on writing
            return await found(redis_url)

        await eventually_true(found_while_collecting, within=20)
        assert await found(redis_url) == [(FORWARD, NET_RETURN)]
        assert service.resyncs >= 2


async def test_an_inbox_too_far_behind_drops_its_backlog() -> None:
    inbox = _Inbox(limit=2)
    for n in range(3):
        inbox.put((INSTANCE, [n]))
    assert inbox.overflowed
    assert inbox.take() == [(INSTANCE, [2])]  # the state is read again instead of the rest
    inbox.fail(StorageError("redis: gone"))
    await inbox.wait(5.0)  # returns at once: the failure is news
    with pytest.raises(StorageError):
        inbox.take()


def test_only_instances_with_runs_in_service_are_served_and_the_collector_skips_them() -> None:
    text = f"""
version: 1
exchanges:
  {INSTANCE}: {{plugin: binance, options: {{arbitrage: {{runs_in: service}}}}}}
  inline: {{plugin: binance}}
  without: {{plugin: binance, options: {{arbitrage: {{enabled: false, runs_in: service}}}}}}
  disabled: {{plugin: binance, enabled: false, options: {{arbitrage: {{runs_in: service}}}}}}
"""
    config = parse_config(text, source="plugins.yaml")
    assert list(service_settings(config)) == [INSTANCE]
    host = PluginHost.load()
    served = InstanceConfig(name=INSTANCE, plugin="binance", options={"arbitrage": {"runs_in": "service"}})
    assert not [o for o in host.observers(INSTANCE, "binance", served) if isinstance(o, ArbitrageObserver)]
    assert [o for o in host.observers("inline", "binance") if isinstance(o, ArbitrageObserver)]


def test_the_command_refuses_a_config_without_a_service_instance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plugins.yaml"
    path.write_text("version: 1\nexchanges:\n  binance: {plugin: binance}\n")
    assert main(["arbitrage", "--config", str(path)]) == 1
    assert "no enabled instance runs arbitrage as a service" in capsys.readouterr().err


def test_published_books_quotes_and_tickers_parse_back_to_the_same_records() -> None:
    """The service builds records without pydantic's validation: they equal the validated ones."""
    records = [
        quote("BTC/USDT", "99.90000000", "5", "100.00000001", "0.00001230"),
        quote("ETH/USDT", "11", "5", "11.01", "1", sequence=499869768),
        book("ETH/BTC", [("0.0999", "500"), ("0.0998", "1E-8")], [("0.1", "100")]),
        Ticker(
            instance=INSTANCE, symbol="ETH/USDT", event_time=5, receive_time=6, last=Decimal("11.0"),
            high=Decimal("12"), bid=Decimal("10.99"), bid_size=Decimal("3"), ask=None, ask_size=None,
        ),
    ]  # fmt: skip
    for record in records:
        parsed = record_of(orjson.loads(encode(record)))
        assert parsed == record and encode(parsed) == encode(record)


@pytest.mark.parametrize(
    ("field", "value"),
    [("bids", [["NaN", "1"]]), ("bids", [["1", "Infinity"]]), ("bids", [["x", "1"]]), ("depth", None)],
)
def test_a_book_that_does_not_parse_is_refused(field: str, value: object) -> None:
    document = orjson.loads(encode(book("ETH/BTC", [("0.0999", "500")], [("0.1", "100")])))
    document[field] = value
    with pytest.raises((ValueError, TypeError, ArithmeticError)):
        record_of(document)
