"""K-line intervals, their legacy minute codes, and candle alignment.

Alignment follows the venues: intervals up to a day open on multiples of their length counted from
the Unix epoch shifted by the venue's UTC offset (0 for Binance, +8 h for HTX daily candles);
``1w`` opens on Monday 00:00 (in that offset); ``1M`` opens on the first day of a calendar month.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum

MINUTE_MS = 60_000
DAY_MS = 86_400_000


class Interval(StrEnum):
    """The eight K-line intervals quotewire collects."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    D1 = "1d"
    W1 = "1w"
    MO1 = "1M"

    @property
    def minutes(self) -> int:
        """The legacy minute code (``1M`` counts as 43200, i.e. 30 days)."""
        return _MINUTES[self]

    @classmethod
    def from_minutes(cls, minutes: int) -> Interval:
        """Map a legacy ``type`` code (1, 5, 15, 30, 60, 1440, 10080, 43200) to an interval."""
        try:
            return _BY_MINUTES[minutes]
        except KeyError:
            codes = ", ".join(str(m) for m in _BY_MINUTES)
            raise ValueError(f"unknown interval minutes {minutes!r} (expected one of {codes})") from None

    @classmethod
    def parse(cls, text: str) -> Interval:
        """Parse ``"1m"``…``"1M"`` (case matters: ``1m`` is a minute, ``1M`` a month)."""
        try:
            return BY_CODE[text]  # a dict lookup: Enum's own constructor is slow on hot paths
        except (KeyError, TypeError):
            names = ", ".join(i.value for i in cls)
            raise ValueError(f"unknown interval {text!r} (expected one of {names})") from None

    def open_time(self, ts_ms: int, utc_offset_ms: int = 0) -> int:
        """The open time (Unix ms) of the candle of this interval that contains ``ts_ms``."""
        if self is Interval.MO1:
            local = _utc(ts_ms + utc_offset_ms)
            start = dt.datetime(local.year, local.month, 1, tzinfo=dt.UTC)
            return _ms(start) - utc_offset_ms
        if self is Interval.W1:
            day_open = (ts_ms + utc_offset_ms) // DAY_MS * DAY_MS
            weekday = _utc(day_open).weekday()  # Monday is 0
            return day_open - weekday * DAY_MS - utc_offset_ms
        length = self.minutes * MINUTE_MS
        return (ts_ms + utc_offset_ms) // length * length - utc_offset_ms

    def next_open_time(self, open_time_ms: int, utc_offset_ms: int = 0) -> int:
        """The open time of the candle after the one opening at ``open_time_ms``."""
        if self is Interval.MO1:
            local = _utc(open_time_ms + utc_offset_ms)
            year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
            return _ms(dt.datetime(year, month, 1, tzinfo=dt.UTC)) - utc_offset_ms
        if self is Interval.W1:
            return open_time_ms + 7 * DAY_MS
        return open_time_ms + self.minutes * MINUTE_MS

    def close_time(self, open_time_ms: int, utc_offset_ms: int = 0) -> int:
        """The close time as Binance reports it: one millisecond before the next open."""
        return self.next_open_time(open_time_ms, utc_offset_ms) - 1


_MINUTES: dict[Interval, int] = {
    Interval.M1: 1,
    Interval.M5: 5,
    Interval.M15: 15,
    Interval.M30: 30,
    Interval.H1: 60,
    Interval.D1: 1440,
    Interval.W1: 10080,
    Interval.MO1: 43200,
}
_BY_MINUTES: dict[int, Interval] = {m: i for i, m in _MINUTES.items()}
BY_CODE: Mapping[str, Interval] = {i.value: i for i in Interval}
"""Intervals by their code (``"1m"``…``"1M"``): for hot paths, where even :meth:`Interval.parse`
(a Python call from compiled code) costs too much; ``.get()`` gives ``None`` for an unknown code."""

ALL_INTERVALS: tuple[Interval, ...] = tuple(Interval)
LEGACY_MINUTE_CODES: tuple[int, ...] = tuple(_BY_MINUTES)


def _utc(ts_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.UTC)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1000
