"""The normalized model: exact decimals, strictness, intervals, symbols."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.decimals import MAX_MAGNITUDE
from core.errors import UnknownSymbolError
from core.intervals import ALL_INTERVALS, LEGACY_MINUTE_CODES, Interval
from core.models import Channel, Kline, Price, Ticker
from core.store.codec import decode_any, encode
from core.symbols import SymbolResolver, compact, from_key, to_key
from tests import factories as f

HOUR = 3_600_000


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC).timestamp() * 1000)


@pytest.mark.parametrize("text", ["0.00001230", "0.00000001", "43210.12000000", "1E-8", "-0.5", "100"])
def test_decimals_keep_every_digit(text: str) -> None:
    record = f.price(value=text)
    assert record.price == Decimal(text)
    assert format(Decimal(text), "f") in encode(record).decode()


def test_decimal_serialization_never_uses_exponent() -> None:
    assert b'"price":"0.00000001"' in encode(f.price(value="1E-8"))


_IN_RANGE = st.decimals(allow_nan=False, allow_infinity=False).filter(
    lambda d: d.adjusted() < MAX_MAGNITUDE and int(d.as_tuple().exponent) >= -MAX_MAGNITUDE
)


@given(_IN_RANGE, st.sampled_from(["1E-8", "1E+3", "0", "-0.00"]))
def test_fast_encoding_equals_pydantic_json(value: Decimal, other: str) -> None:
    """The store's encoder (str() with an exponent fallback) writes exactly what pydantic writes."""
    record = f.price(value=str(value))
    assert encode(record) == type(record).__pydantic_serializer__.to_json(record)
    record = f.price(value=other)
    assert encode(record) == type(record).__pydantic_serializer__.to_json(record)


@pytest.mark.parametrize(
    "bad", [1.5, True, "abc", "NaN", "Infinity", None, "1E+999999999", "1E-101", 10**100]
)
def test_decimals_refuse_floats_and_junk(bad: object) -> None:
    with pytest.raises(ValidationError):
        Price(instance="x", symbol="BTC/USDT", event_time=1, receive_time=1, price=bad)


def test_records_are_frozen_and_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Ticker(instance="x", symbol="BTC/USDT", event_time=1, receive_time=1, last="1", lastt="2")  # type: ignore[call-arg]
    record = f.ticker()
    with pytest.raises(ValidationError):
        record.last = Decimal(2)  # type: ignore[misc]


@pytest.mark.parametrize(
    "record", [f.ticker(), f.quote(), f.price(), f.book(), f.trade(), f.kline()], ids=lambda r: r.channel
)
def test_every_record_round_trips_through_its_channel_tag(record: object) -> None:
    assert decode_any(encode(record)) == record  # type: ignore[arg-type]


def test_every_record_carries_instance_symbol_and_both_times() -> None:
    for record in (f.ticker(), f.quote(), f.price(), f.book(), f.trade(), f.kline()):
        assert record.instance == f.INSTANCE
        assert record.symbol == "BTC/USDT"
        assert record.event_time is not None
        assert record.receive_time >= record.event_time
        assert isinstance(record.channel, Channel)


def test_legacy_minute_codes_map_onto_the_eight_intervals() -> None:
    assert LEGACY_MINUTE_CODES == (1, 5, 15, 30, 60, 1440, 10080, 43200)
    assert [Interval.from_minutes(m) for m in LEGACY_MINUTE_CODES] == list(ALL_INTERVALS)
    with pytest.raises(ValueError, match="expected one of 1, 5, 15"):
        Interval.from_minutes(2)


def test_interval_parse_is_case_sensitive() -> None:
    assert Interval.parse("1m") is Interval.M1
    assert Interval.parse("1M") is Interval.MO1
    with pytest.raises(ValueError, match="unknown interval '2h'"):
        Interval.parse("2h")


def test_alignment_like_binance() -> None:
    t = utc_ms(2026, 11, 21, 5, 3, 27)  # a Saturday
    assert Interval.M1.open_time(t) == utc_ms(2026, 11, 21, 5, 3)
    assert Interval.M15.open_time(t) == utc_ms(2026, 11, 21, 5, 0)
    assert Interval.H1.open_time(t) == utc_ms(2026, 11, 21, 5)
    assert Interval.D1.open_time(t) == utc_ms(2026, 11, 21)
    assert Interval.W1.open_time(t) == utc_ms(2026, 11, 16)  # Monday 00:00 UTC
    assert Interval.MO1.open_time(t) == utc_ms(2026, 11, 1)
    assert Interval.MO1.next_open_time(utc_ms(2026, 12, 1)) == utc_ms(2027, 1, 1)
    assert Interval.MO1.close_time(utc_ms(2026, 2, 1)) == utc_ms(2026, 3, 1) - 1
    assert Interval.W1.next_open_time(utc_ms(2026, 11, 16)) == utc_ms(2026, 11, 23)


def test_daily_alignment_at_utc_plus_8_like_htx() -> None:
    t = utc_ms(2026, 11, 21, 5)  # 13:00 in UTC+8
    assert Interval.D1.open_time(t, 8 * HOUR) == utc_ms(2026, 11, 20, 16)
    assert Interval.D1.open_time(utc_ms(2026, 11, 21, 17), 8 * HOUR) == utc_ms(2026, 11, 21, 16)


def test_kline_close_time_matches_binance_convention() -> None:
    k = f.kline(interval=Interval.M5)
    assert isinstance(k, Kline)
    assert k.close_time == k.open_time + 5 * 60_000 - 1


@pytest.mark.parametrize("spelling", ["BTC-USDT", "btcusdt", "BTCUSDT", "btc_usdt", "BTC/USDT"])
def test_symbol_spellings_resolve(spelling: str) -> None:
    resolver = SymbolResolver(["BTC/USDT", "ETH/BTC", "BTC/USDC"])
    assert resolver.resolve(spelling) == "BTC/USDT"


def test_unknown_symbols_get_suggestions() -> None:
    resolver = SymbolResolver(["BTC/USDT", "ETH/BTC", "BTC/USDC"])
    with pytest.raises(UnknownSymbolError) as err:
        resolver.resolve("btcusdd")
    assert err.value.suggestions[:2] == ("BTC/USDC", "BTC/USDT") or "BTC/USDT" in err.value.suggestions


def test_symbol_key_spelling() -> None:
    assert to_key("BTC/USDT") == "BTC-USDT"
    assert from_key("BTC-USDT") == "BTC/USDT"
    assert compact("btc_usdt") == "BTCUSDT"
