"""Backfill requests: queued requests are merged into one, every series from its earliest start."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.collector.backoff import Backoff
from core.collector.klines import BackfillRequest, KlineSync, history_start, merge_requests
from core.intervals import ALL_INTERVALS, Interval

BTC_1M = ("BTC/USDT", Interval.M1)
BTC_1H = ("BTC/USDT", Interval.H1)
ETH_1M = ("ETH/BTC", Interval.M1)


def test_one_request_is_served_as_it_is() -> None:
    request = BackfillRequest("start", [BTC_1M], since={BTC_1M: 5})
    assert merge_requests([request]) is request


def test_each_series_starts_at_the_earliest_start_asked_for() -> None:
    merged = merge_requests(
        [
            BackfillRequest(
                "stream shard 2/12 reconnected", [BTC_1M, BTC_1H], since={BTC_1M: 600, BTC_1H: 7200}
            ),
            BackfillRequest("gap in stream", [BTC_1M], since={BTC_1M: 300}),
            BackfillRequest("gap in stream", [ETH_1M], since={ETH_1M: 900}),
        ]
    )
    assert merged.reason == "stream shard 2/12 reconnected, gap in stream"
    assert list(merged.keys) == [BTC_1M, BTC_1H, ETH_1M]
    assert merged.since == {BTC_1M: 300, BTC_1H: 7200, ETH_1M: 900}
    assert not merged.full


@pytest.mark.parametrize(
    "whole_history",
    [
        pytest.param(BackfillRequest("redis lost its data", [BTC_1M], full=True), id="full"),
        pytest.param(BackfillRequest("start", [BTC_1M]), id="no-since"),
    ],
)
def test_a_series_one_request_wants_whole_gets_its_whole_history(whole_history: BackfillRequest) -> None:
    merged = merge_requests(
        [BackfillRequest("gap in stream", [BTC_1M, ETH_1M], since={BTC_1M: 300, ETH_1M: 60}), whole_history]
    )
    assert merged.since == {ETH_1M: 60}  # BTC 1m: no start, so the whole history
    assert list(merged.keys) == [BTC_1M, ETH_1M]


async def test_requests_queued_meanwhile_are_served_together(monkeypatch: pytest.MonkeyPatch) -> None:
    sync = KlineSync.__new__(KlineSync)  # only the queue and the loop are exercised here
    sync.requests = asyncio.Queue()
    served: list[BackfillRequest] = []
    release = asyncio.Event()

    async def backfill(request: BackfillRequest, backoff: Backoff) -> None:
        served.append(request)
        await release.wait()

    monkeypatch.setattr(sync, "_backfill", backfill)
    sync.request(BackfillRequest("start", [BTC_1M]))
    loop = asyncio.create_task(sync.run_backfills(Backoff(base=0.1, cap=1.0)))
    await asyncio.sleep(0.01)
    for key in (BTC_1H, ETH_1M, BTC_1H):  # arrive while the first backfill runs
        sync.request(BackfillRequest("gap in stream", [key], since={key: 0}))
    release.set()
    await asyncio.sleep(0.01)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    assert [list(r.keys) for r in served] == [[BTC_1M], [BTC_1H, ETH_1M]]


def _stepped_history_start(interval: Interval, now_ms: int, candles: int, utc_offset_ms: int) -> int:
    """The reference: step back one candle at a time."""
    open_time = interval.open_time(now_ms, utc_offset_ms)
    for _ in range(max(0, candles - 1)):
        open_time = interval.open_time(open_time - 1, utc_offset_ms)
    return open_time


@given(
    st.sampled_from(list(ALL_INTERVALS)),
    st.integers(min_value=0, max_value=4_102_444_800_000),  # 1970 to 2100
    st.integers(min_value=0, max_value=1_200),
    st.sampled_from([0, 8 * 3_600_000, -5 * 3_600_000]),  # UTC, HTX's UTC+8, a UTC-5 venue
)
def test_the_history_start_is_that_many_candles_back(
    interval: Interval, now_ms: int, candles: int, utc_offset_ms: int
) -> None:
    expected = _stepped_history_start(interval, now_ms, candles, utc_offset_ms)
    found = history_start(interval, now_ms, candles, utc_offset_ms)
    if expected >= 0:
        assert found == expected
    else:  # before the epoch, where callers clamp to 0 anyway
        assert found <= max(0, interval.open_time(now_ms, utc_offset_ms))
