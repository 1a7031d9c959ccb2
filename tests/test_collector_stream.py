"""The stream supervisor on a manual clock: backoff between failed connects, instant reconnect after a
healthy session, the stall watchdog — no test here sleeps."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence

import pytest

from core.adapter import Subscription
from core.capabilities import Capabilities
from core.collector.backoff import Backoff
from core.collector.metrics import COUNTERS, InstanceMetrics, StreamCounters
from core.collector.sink import RecordSink
from core.collector.streaming import StreamCoverage, StreamState, StreamSupervisor
from core.config import InstanceConfig
from core.errors import NotSupportedError, TransientError
from core.models import Channel, Price, Record
from core.store import StoreWriter
from tests.support.collector import FakeAdapter, FakeVenue, VirtualClock

PRICE = Subscription(Channel.PRICE, "BTC/USDT")


class ScriptedAdapter(FakeAdapter):
    """Each connection follows the next step of a script:
    ``("refuse",)``, ``("serve", n, seconds_between)`` then a disconnect, or ``("stall", n)``."""

    capabilities = Capabilities(stream_channels=frozenset({Channel.PRICE}))
    script: list[tuple[object, ...]]
    stop: asyncio.Event

    async def stream(self, subscriptions: Sequence[Subscription]) -> AsyncIterator[Sequence[Record]]:
        if not self.script:
            self.stop.set()
            await asyncio.Event().wait()  # the test ends here
        step = self.script.pop(0)
        if step[0] == "refuse":
            raise TransientError("connection refused")
        if step[0] == "unsupported":
            raise NotSupportedError("no websockets")
        if step[0] == "close-fails":  # serves, then fails while being closed (a reset on the way out)
            try:
                yield [self.price()]
                await asyncio.Event().wait()
            finally:
                raise TransientError("connection reset while closing")
        count = int(step[1])  # type: ignore[call-overload]
        for _ in range(count):
            if step[0] == "serve":
                await self.clock.sleep(float(step[2]))  # type: ignore[arg-type]
            else:
                await asyncio.sleep(0)
            yield [self.price()]
        if step[0] == "stall":
            await asyncio.Event().wait()  # connected, silent
        raise TransientError("serverShutdown")

    def price(self) -> Price:
        now = self.clock.now_ms()
        return Price(instance=self.instance, symbol="BTC/USDT", event_time=now, receive_time=now, price="1.0")


def supervisor(
    script: list[tuple[object, ...]], clock: VirtualClock, stall: float = 30.0
) -> StreamSupervisor:
    venue = FakeVenue(clock=clock)
    adapter_class = type(
        "Scripted", (ScriptedAdapter,), {"venue": venue, "script": script, "stop": asyncio.Event()}
    )
    adapter = adapter_class(InstanceConfig(name="scripted", plugin="fake"), clock=clock)
    writer = StoreWriter("redis://127.0.0.1:1/2")  # never started: records stay pending in memory
    metrics = InstanceMetrics("scripted", writer)
    sink = RecordSink("scripted", writer, [], metrics, clock)
    return StreamSupervisor(
        adapter, [PRICE], sink=sink, state=StreamState(), metrics=metrics, clock=clock,
        backoff=Backoff(base=1.0, cap=8.0, rng=random.Random(3)), stall_timeout=stall,
    )  # fmt: skip


async def run_script(sup: StreamSupervisor) -> None:
    task = asyncio.create_task(sup.run())
    stop: asyncio.Event = sup.adapter.stop  # type: ignore[attr-defined]
    clock = sup.clock
    assert isinstance(clock, VirtualClock)
    async with asyncio.timeout(10):
        await clock.drive(lambda: stop.is_set() or task.done())
    assert stop.is_set(), "the script did not run to its end"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_failed_connects_back_off_exponentially_with_jitter_and_cap() -> None:
    clock = VirtualClock()
    sup = supervisor([("refuse",)] * 6, clock)
    await run_script(sup)
    backoffs = [s for s in clock.sleeps if s != 30.0 / 4]  # not the watchdog's ticks
    assert len(backoffs) == 6
    for delay, nominal in zip(backoffs, [1, 2, 4, 8, 8, 8], strict=True):
        assert nominal / 2 <= delay <= nominal
    assert sup.metrics.counts["reconnects"] == 6


async def test_a_healthy_session_that_ends_is_reconnected_at_once() -> None:
    clock = VirtualClock()
    ups: list[bool] = []
    sup = supervisor([("refuse",), ("refuse",), ("serve", 5, 1.0), ("serve", 5, 1.0)], clock)
    sup.on_up = ups.append
    await run_script(sup)
    assert ups == [False, True]  # second connection is a reconnect (backfill is requested then)
    assert sup.backoff.failures == 0
    served_at = clock.sleeps.index(1.0)
    after_serving = [s for s in clock.sleeps[served_at:] if s not in (1.0, 7.5)]
    assert after_serving == []  # the frames' and the watchdog's only: no backoff after a healthy session
    assert sup.metrics.counts["messages"] == 10
    assert sup.sink.writer.stats.records == 10


async def test_a_session_that_drops_right_after_connecting_still_backs_off() -> None:
    clock = VirtualClock()
    sup = supervisor([("serve", 1, 0.0)] * 3, clock)
    await run_script(sup)
    assert sup.backoff.failures == 3


async def test_the_watchdog_abandons_a_silent_stream() -> None:
    clock = VirtualClock()
    states: list[bool] = []
    sup = supervisor([("stall", 2), ("stall", 1)], clock, stall=5.0)
    sup.on_down = lambda: states.append(False)
    await run_script(sup)
    assert sup.sessions == 3  # two stalls detected, then the script's end
    assert states == [False, False]
    assert clock.t >= 10.0  # each stall needed 5 s of silence


async def test_a_venue_without_streams_leaves_it_to_polling() -> None:
    clock = VirtualClock()
    sup = supervisor([("unsupported",)], clock)
    async with asyncio.timeout(5):
        await sup.run()  # returns: nothing to reconnect
    assert not sup.state.is_up and sup.sessions == 1


async def test_cancelling_wins_over_an_error_raised_while_the_stream_closes() -> None:
    # on Python 3.11 a task group that is cancelled from outside while a child fails raises the
    # child's error instead of the cancellation; the supervisor must not take it for a lost stream
    # and reconnect (the collector would never stop)
    clock = VirtualClock()
    sup = supervisor([("close-fails",)], clock)
    task = asyncio.create_task(sup.run())
    async with asyncio.timeout(10):
        while sup.metrics.counts["messages"] < 1:  # noqa: ASYNC110 - polls a counter, bounded
            await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert done, "the supervisor ignored its cancellation"
    with pytest.raises(asyncio.CancelledError):
        task.result()
    assert sup.sessions == 1


async def test_coverage_names_the_symbols_of_shards_that_are_down() -> None:
    coverage = StreamCoverage()
    assert not coverage.is_up  # no shard streams anything yet
    first, second = coverage.add(["BTC/USDT", "ETH/BTC"]), coverage.add(["BNB/USDT"])
    symbols = ["BTC/USDT", "ETH/BTC", "BNB/USDT"]
    assert coverage.uncovered(symbols) == symbols
    first.set_up()
    assert not coverage.is_up and coverage.uncovered(symbols) == ["BNB/USDT"]
    second.set_up()
    assert coverage.is_up and coverage.uncovered(symbols) == []
    waiter = asyncio.create_task(coverage.wait_down())
    await asyncio.sleep(0)
    assert not waiter.done()  # every shard delivers
    first.set_down()
    await asyncio.wait_for(waiter, 1)
    assert coverage.uncovered(symbols) == ["BTC/USDT", "ETH/BTC"]
    await asyncio.wait_for(coverage.wait_down(), 1)  # returns at once while a shard is down


def test_live_data_long_after_its_event_time_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    clock = VirtualClock()
    writer = StoreWriter("redis://127.0.0.1:1/2")  # never started: records stay pending in memory
    sink = RecordSink("lagging", writer, [], InstanceMetrics("lagging", writer), clock)
    now = clock.now_ms()

    def price(delay_ms: int) -> Price:
        return Price(
            instance="lagging", symbol="BTC/USDT", event_time=now - delay_ms, receive_time=now, price="1"
        )

    sink.put([price(4_000)], live=True)
    sink.put([price(6_000)])  # REST data: its event time may be old (a quiet market)
    assert not caplog.records
    sink.put([price(6_000), price(6_500)], live=True)
    sink.put([price(7_000)], live=True)  # within the minute: counted, not logged
    clock.t += 60.0
    sink.put([price(8_000)], live=True)
    late = [r.getMessage() for r in caplog.records if "after its exchange event time" in r.getMessage()]
    assert late == [
        "lagging: live data arrives 6.5 s after its exchange event time: the collector lags the market"
        " (CPU saturated?) or the network is slow",
        "lagging: live data arrives 8.0 s after its exchange event time: the collector lags the market"
        " (CPU saturated?) or the network is slow (1 similar messages suppressed)",
    ]
    assert sink.put([price(0)], live=True) == 1  # nothing is dropped, only reported


def test_stream_counters_add_the_growth_of_the_adapter_totals(caplog: pytest.LogCaptureFixture) -> None:
    writer = StoreWriter("redis://127.0.0.1:1/2")  # never started: counters stay pending in memory
    metrics = InstanceMetrics("counted", writer)
    metrics.incr("resyncs")  # a K-line backfill: book resyncs add to the same counter
    totals = {"resyncs": 2, "malformed": 0, "frames": 7}
    counters = StreamCounters("counted", lambda: totals, metrics)
    counters.sync()
    counters.sync()  # nothing new: nothing added
    assert (metrics.counts["resyncs"], metrics.counts["malformed"]) == (3, 0)
    totals.update(resyncs=5, malformed=4, frames=9)
    counters.sync()
    assert (metrics.counts["resyncs"], metrics.counts["malformed"]) == (6, 4)
    totals["malformed"] = 1  # fell (not a cumulative total): the new base
    counters.sync()
    totals["malformed"] = 3
    counters.sync()
    assert metrics.counts["malformed"] == 6
    assert set(metrics.counts) == set(COUNTERS)  # "frames" is no counter: ignored, and said once
    assert [r.getMessage() for r in caplog.records] == [
        "counted: the adapter reports an unknown counter 'frames'; ignored"
    ]
