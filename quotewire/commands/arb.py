"""``quotewire arb --instance NAME``: a live table of the instance's arbitrage opportunities.

Reads Redis only: the ranked set at start, then it redraws (at most ``--refresh`` times a second)
whenever the collector publishes an opportunity change. Ctrl-C (or SIGTERM) exits cleanly; ``--once``
prints one table and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TextIO

import orjson

from core.clock import SYSTEM_CLOCK, Clock
from core.config import AppConfig, load_config
from core.errors import NotFoundError
from core.store import ARBITRAGE_CHANNEL, StoreReader
from quotewire.commands.collect import run_until_signalled

CLEAR = "\x1b[H\x1b[2J"
COLUMNS = ("#", "net %", "gross %", "size", "size USD", "age ms", "", "path / legs")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("arb", help="live table of an instance's arbitrage opportunities (from Redis)")
    parser.add_argument("--instance", required=True, help="instance name, as in plugins.yaml")
    parser.add_argument("--config", help="path to plugins.yaml (default: built-in defaults)")
    parser.add_argument("--limit", type=int, default=20, help="rows shown, best first (default 20)")
    parser.add_argument("--once", action="store_true", help="print the table once and exit")
    parser.add_argument("--refresh", type=float, default=5.0, help="most redraws per second (default 5)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else AppConfig()
    table = ArbTable(config.redis_url, args.instance, limit=max(1, args.limit), out=sys.stdout)
    if args.once:
        asyncio.run(table.print_once())
    else:
        run_until_signalled(lambda: table.watch(min_interval=1.0 / max(args.refresh, 0.1)))
    return 0


class ArbTable:
    """Reads the ranked opportunities of one instance and draws them."""

    def __init__(
        self, redis_url: str, instance: str, *, limit: int, out: TextIO, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.redis_url = redis_url
        self.instance = instance
        self.limit = limit
        self.out = out
        self.clock = clock

    async def print_once(self) -> None:
        """Print the current table (no screen clearing)."""
        async with StoreReader(self.redis_url) as reader:
            await self._check_instance(reader)
            self.out.write(await self._table(reader) + "\n")
            self.out.flush()

    async def watch(self, *, min_interval: float = 0.2) -> None:
        """Draw now, then again after every change (coalesced to ``min_interval``) until cancelled."""
        async with StoreReader(self.redis_url) as reader:
            await self._check_instance(reader)
            changed, subscribed = asyncio.Event(), asyncio.Event()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._listen(reader, changed, subscribed), name="arb-listen")
                await subscribed.wait()  # no change can slip between the first draw and the updates
                while True:
                    self.out.write(CLEAR + await self._table(reader) + "\n")
                    self.out.flush()
                    await changed.wait()
                    changed.clear()
                    await self.clock.sleep(min_interval)

    async def _listen(self, reader: StoreReader, changed: asyncio.Event, subscribed: asyncio.Event) -> None:
        async for _, records in reader.events([self.instance], on_subscribed=subscribed.set):
            if any(r.get("channel") == ARBITRAGE_CHANNEL for r in records):
                changed.set()

    async def _check_instance(self, reader: StoreReader) -> None:
        known = await reader.instances()
        if self.instance not in known:
            names = ", ".join(sorted(known)) or "none"
            raise NotFoundError(f"unknown instance {self.instance!r} (in Redis: {names})")

    async def _table(self, reader: StoreReader) -> str:
        documents = await reader.opportunities(self.instance, limit=self.limit)
        return render(self.instance, [orjson.loads(d) for d in documents], self.clock.now_ms())


def render(instance: str, opportunities: Sequence[dict[str, Any]], now_ms: int) -> str:
    """The table: one row per opportunity (best first), its legs on the lines below."""
    lines = [
        f"arbitrage on {instance}: {len(opportunities)} opportunit{'y' if len(opportunities) == 1 else 'ies'}"
    ]
    rows = [COLUMNS]
    legs: list[list[str]] = []
    for rank, o in enumerate(opportunities, 1):
        quoted_at = int(o["detected_at"]) - int(o["oldest_quote_age_ms"])
        usd = o.get("size_usd")
        rows.append(
            (
                str(rank),
                _percent(o["net_return"]),
                _percent(o["gross_return"]),
                f"{_short(o['size'])} {o['path'][0]}",
                "-" if usd is None else _short(usd, 2),
                str(max(0, now_ms - quoted_at)),
                "STALE" if o["stale"] else "",
                " → ".join(o["path"]),
            )
        )
        legs.append([f"{leg['side']} {leg['amount']} {leg['symbol']} @ {leg['price']}" for leg in o["legs"]])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(w) if i < 6 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index:
            indent = " " * (sum(widths[:7]) + 2 * 7)
            lines += [indent + text for text in legs[index - 1]]
    return "\n".join(lines)


def _percent(ratio: str) -> str:
    return f"{Decimal(ratio) * 100:.4f}"


def _short(value: str, places: int = 8) -> str:
    return f"{Decimal(value):.{places}f}".rstrip("0").rstrip(".")
