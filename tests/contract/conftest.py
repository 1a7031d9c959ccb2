"""The adapter contract suite runs once per case: every installed adapter plugin, on a simulated venue.

:data:`VENUES` maps a plugin to the cases it runs as: which simulated venue (from the plugins'
``quotewire_venues``) and which extra instance settings. An installed plugin missing from the table,
or whose venue is not registered yet, is reported as a skipped case with the reason.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.adapter import ExchangeAdapter
from core.config import InstanceConfig
from core.plugins import PluginHost
from core.venue import SimulatedVenue
from exchanges.ccxt_generic import plugin as ccxt_plugin
from tests.support.plugins import load_host
from tests.support.thirdparty import ensure_example_installed


@dataclass(frozen=True)
class Case:
    """One contract run: ``plugin`` collecting from the simulated ``venue`` with ``settings``."""

    id: str
    plugin: str
    venue: str
    settings: Mapping[str, Any] = field(default_factory=dict)


VENUES: Mapping[str, tuple[Case, ...]] = {
    "binance": (Case("binance", "binance", "binance"),),
    "huobi": (Case("huobi", "huobi", "huobi"),),
    "ccxt": (
        Case("ccxt-binance", "ccxt", "binance", {"ccxt_id": "binance"}),
        Case("ccxt-htx", "ccxt", "huobi", {"ccxt_id": "htx"}),
    ),
    "paperex": (Case("paperex", "paperex", "paperex"),),
}
REQUIRED = ("binance", "ccxt-binance", "paperex")
"""Cases that must run, never skip."""


@functools.cache
def contract_host() -> PluginHost:
    """Every installed plugin: entry points, the example package, and the generic ccxt plugin."""
    ensure_example_installed()
    return load_host(ccxt_plugin)


def contract_cases() -> list[Any]:
    """A pytest param per case; installed adapters without a venue become skipped params."""
    host = contract_host()
    params: list[Any] = []
    for name in sorted(host.adapters):
        cases = VENUES.get(name)
        if not cases:
            reason = f"plugin {name!r}: no simulated venue for it in tests/contract/conftest.py VENUES"
            params.append(pytest.param(Case(name, name, ""), id=name, marks=pytest.mark.skip(reason=reason)))
            continue
        for case in cases:
            marks = []
            if case.venue not in host.venues and case.id not in REQUIRED:
                reason = f"plugin {name!r}: the simulated venue {case.venue!r} is not registered yet"
                marks.append(pytest.mark.skip(reason=reason))
            params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", contract_cases())


@pytest.fixture
async def venue(case: Case) -> AsyncIterator[SimulatedVenue]:
    """The case's simulated venue, running."""
    running = contract_host().venues[case.venue](seed=11, symbols=6)
    await running.start()
    yield running
    await running.stop()


def instance_config(case: Case, urls: Mapping[str, str], **settings: Any) -> InstanceConfig:
    """The configuration of the instance under test."""
    body = {"name": f"contract-{case.id}", "plugin": case.plugin, "urls": dict(urls), **case.settings}
    return InstanceConfig.model_validate({**body, **settings})


@pytest.fixture
def adapter_class(case: Case) -> type[ExchangeAdapter]:
    return contract_host().adapter(case.plugin)


@pytest.fixture
def config(case: Case, venue: SimulatedVenue) -> InstanceConfig:
    return instance_config(case, venue.instance_urls(), depth_levels=5)
