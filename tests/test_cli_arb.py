"""``quotewire arb``: the table from Redis, once and live (redrawn on changes, Ctrl-C exits 0)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from core.arbitrage import Opportunity, OpportunityLeg
from core.store import RankedItem, StoreWriter
from quotewire.cli import main
from tests import factories as f

REPO = Path(__file__).resolve().parent.parent
INSTANCE = "arb-cli"


def opportunity(key: str, net: str, *, stale: bool = False) -> Opportunity:
    return Opportunity(
        instance=INSTANCE,
        id=key,
        path=("USDT", "BTC", "ETH", "USDT"),
        legs=(
            OpportunityLeg(symbol="BTC/USDT", side="buy", price=Decimal(100), amount=Decimal(1)),
            OpportunityLeg(symbol="ETH/BTC", side="buy", price=Decimal("0.1"), amount=Decimal("9.99")),
            OpportunityLeg(symbol="ETH/USDT", side="sell", price=Decimal(11), amount=Decimal("9.98001")),
        ),
        gross_return=Decimal("0.1"),
        net_return=Decimal(net),
        size=Decimal("100.00000000"),
        size_usd=Decimal("100.00000000"),
        oldest_quote_age_ms=3,
        detected_at=f.T0,
        stale=stale,
    )


async def store(redis_url: str, *found: Opportunity) -> None:
    async with StoreWriter(redis_url, flush_interval=3600) as writer:
        writer.put_markets(INSTANCE, [f.market("BTC/USDT", INSTANCE)], {"plugin": "binance"})
        writer.put_opportunities(
            INSTANCE, [RankedItem(o.id, float(o.net_return), o) for o in found], (), f.T0
        )
        await writer.flush()


def test_once_prints_the_ranked_table(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(
        store(redis_url, opportunity("small", "0.0012"), opportunity("big", "0.0967032989", stale=True))
    )
    monkeypatch.setenv("QUOTEWIRE_REDIS_URL", redis_url)
    assert main(["arb", "--instance", INSTANCE, "--once"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"arbitrage on {INSTANCE}: 2 opportunities"
    rows = [line.split() for line in lines if line.strip().split(" ")[0] in {"1", "2"}]
    assert [(r[0], r[1], r[2]) for r in rows] == [("1", "9.6703", "10.0000"), ("2", "0.1200", "10.0000")]
    assert "STALE" in rows[0] and "STALE" not in rows[1]
    assert rows[0][3:5] == ["100", "USDT"] and rows[0][5] == "100"
    assert "buy 9.99 ETH/BTC @ 0.1" in "\n".join(lines)
    assert main(["arb", "--instance", INSTANCE, "--once", "--limit", "1"]) == 0
    assert "9.6703" in capsys.readouterr().out


def test_unknown_instance_is_an_error(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(store(redis_url))
    monkeypatch.setenv("QUOTEWIRE_REDIS_URL", redis_url)
    assert main(["arb", "--instance", "nope", "--once"]) == 1
    assert f"unknown instance 'nope' (in Redis: {INSTANCE})" in capsys.readouterr().err


async def test_live_table_redraws_on_changes_and_stops_on_sigint(redis_url: str) -> None:
    await store(redis_url, opportunity("first", "0.001"))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quotewire.cli", "arb", "--instance", INSTANCE, "--refresh", "50",
        cwd=REPO, env={**os.environ, "QUOTEWIRE_REDIS_URL": redis_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None

    async def until(text: str) -> None:
        assert process.stdout is not None
        while text not in (await process.stdout.readline()).decode():
            pass

    try:
        async with asyncio.timeout(20):
            await until(": 1 opportunity")
            await store(redis_url, opportunity("second", "0.002"))
            await until(": 2 opportunities")
            process.send_signal(signal.SIGINT)
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
