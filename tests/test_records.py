"""The two builds of unvalidated records (C and Python) give what pydantic's validation gives."""

from __future__ import annotations

import copy
import gc
import pickle
import sys
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from core.models import Channel, OrderBook, Quote
from core.records import NATIVE, Trusted, trusted, trusted_python

BUILDS: list[Trusted] = [b for b in (NATIVE, trusted_python) if b is not None]
QUOTE: dict[str, Any] = {"instance": "b", "symbol": "X/Y", "event_time": None, "receive_time": 1,
                         "bid": Decimal("1"), "bid_size": Decimal("2"), "ask": Decimal("3"),
                         "ask_size": Decimal("4")}  # fmt: skip


def test_the_native_build_is_built() -> None:
    """The C build is made by the install on any machine with a compiler (as CI's)."""
    assert NATIVE is not None and trusted is NATIVE


@pytest.mark.parametrize("build", BUILDS)
def test_a_built_record_equals_the_validated_one(build: Trusted) -> None:
    quote = build(Quote, **QUOTE)
    validated = Quote.model_validate(QUOTE)
    assert type(quote) is Quote
    assert quote == validated
    assert quote.channel is Channel.QUOTE and quote.sequence is None
    assert list(quote.__dict__) == list(validated.__dict__)
    assert quote.model_fields_set == set(QUOTE) == validated.model_fields_set
    assert quote.model_dump_json() == validated.model_dump_json()
    assert quote.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert quote.__pydantic_extra__ is None and quote.__pydantic_private__ is None


@pytest.mark.parametrize("build", BUILDS)
def test_names_in_any_order_give_the_fields_in_field_order(build: Trusted) -> None:
    reordered = dict(reversed(QUOTE.items()))
    quote = build(Quote, **reordered)
    assert list(quote.__dict__) == list(Quote.model_fields)
    assert quote == build(Quote, **QUOTE) and quote.model_fields_set == set(QUOTE)


@pytest.mark.parametrize("build", BUILDS)
def test_a_built_record_behaves_as_a_model(build: Trusted) -> None:
    quote = build(Quote, **QUOTE)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        quote.bid = Decimal("9")  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(quote)) == quote
    assert copy.deepcopy(quote) == quote
    assert quote.model_copy(update={"sequence": 5}).sequence == 5
    assert gc.is_tracked(quote)


@pytest.mark.parametrize("build", BUILDS)
def test_unknown_fields_are_named(build: Trusted) -> None:
    with pytest.raises(TypeError, match=r"Quote: unknown fields \['colour', 'size'\]"):
        build(Quote, **QUOTE, size=1, colour="red")


class Probe(pydantic.BaseModel):
    """A model only the reference test below uses: nothing else moves its reference count."""

    model_config = pydantic.ConfigDict(frozen=True)
    size: Decimal
    note: str = ""


@pytest.mark.parametrize("build", BUILDS)
def test_building_keeps_no_reference(build: Trusted) -> None:
    """The C build owns what it creates: nothing leaks a reference, on success or on error."""
    size = Decimal("1.5")
    build(Probe, size=size)  # type: ignore[type-var]  # the first call of a name list makes its plan
    gc.collect()
    before = sys.getrefcount(size), sys.getrefcount(Probe)
    for _ in range(1000):
        build(Probe, size=size)  # type: ignore[type-var]
        with pytest.raises(TypeError):
            build(Probe, size=size, colour="red")  # type: ignore[type-var]
    gc.collect()
    assert (sys.getrefcount(size), sys.getrefcount(Probe)) == before


def test_the_native_build_refuses_wrong_arguments() -> None:
    assert NATIVE is not None
    with pytest.raises(TypeError, match="model class"):
        NATIVE("Quote")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model class"):
        NATIVE(Quote, Quote)  # type: ignore[call-arg]
    book = NATIVE(OrderBook, instance="b")
    assert book.instance == "b" and book.model_fields_set == {"instance"}
    empty = NATIVE(OrderBook)
    assert empty.model_fields_set == set()


def test_records_of_the_same_names_share_a_fields_set_that_copies_keep_apart() -> None:
    first, second = trusted(Quote, **QUOTE), trusted(Quote, **QUOTE)
    assert first.model_fields_set == second.model_fields_set == set(QUOTE)
    assert first.model_fields_set is second.model_fields_set or NATIVE is None
    updated = first.model_copy(update={"sequence": 7})
    assert updated.model_fields_set == {*QUOTE, "sequence"}
    assert first.model_fields_set == second.model_fields_set == set(QUOTE)
    other = trusted(Quote, **QUOTE, sequence=3)
    assert other.model_fields_set == {*QUOTE, "sequence"} and first.model_fields_set == set(QUOTE)
