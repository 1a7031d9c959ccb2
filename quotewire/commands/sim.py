"""``quotewire sim``: run a simulated venue (any name a plugin provides) until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from core.errors import ConfigError, PluginError
from core.plugins import PluginHost
from core.venue import SimulatedVenue
from quotewire import gc_policy
from quotewire.commands.collect import loop_factory


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sim", help="run a simulated exchange on loopback (REST + websockets)")
    parser.add_argument("--venue", required=True, help="venue name, e.g. binance (see `quotewire plugins`)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--seed", type=int, default=1, help="market seed (same seed, same market)")
    parser.add_argument("--symbols", type=int, default=50, help="number of markets (default 50)")
    parser.add_argument("--firehose", action="store_true", help="publish as fast as possible (benchmarks)")
    parser.add_argument("--rate", type=float, help="market events per second in paced mode")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=N",
        help="start with a fault, e.g. --fault drop_every=10 --fault latency_ms=50 (repeatable)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="venue option, e.g. --option ping_interval=5 --option lifetime=600 (repeatable)",
    )
    parser.set_defaults(func=run)


def parse_value(text: str) -> Any:
    """``"5"`` → 5, ``"0.5"`` → 0.5, ``"true"`` → True, anything else stays text."""
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return text


def parse_pairs(items: list[str], what: str) -> dict[str, Any]:
    """``["a=1", "b-c=x"]`` → ``{"a": 1, "b_c": "x"}``; a malformed item is a :class:`ConfigError`."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--{what} {item!r}: expected KEY=VALUE")
        parsed[key.strip().replace("-", "_")] = parse_value(value.strip())
    return parsed


def build_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments for the venue factory."""
    options = parse_pairs(args.option, "option")
    faults = parse_pairs(args.fault, "fault")
    if faults:
        options["faults"] = faults
    if args.firehose:
        options["firehose"] = True
    if args.rate is not None:
        options["rate"] = args.rate
    return options


def run(args: argparse.Namespace) -> int:
    host = PluginHost.load()
    factory = host.venues.get(args.venue)
    if factory is None:
        known = ", ".join(sorted(host.venues)) or "none"
        raise PluginError(f"unknown venue {args.venue!r} (installed: {known})")
    try:
        venue = factory(
            host=args.host, port=args.port, seed=args.seed, symbols=args.symbols, **build_options(args)
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"venue {args.venue!r} refused its options: {exc}") from exc
    gc_policy.tune()
    # uvloop as the collector runs on: its writes and callbacks cost the venue less under firehose
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(serve_with_gc_upkeep(venue))
    return 0


async def serve_with_gc_upkeep(venue: SimulatedVenue) -> None:
    """:func:`serve` with the collector's GC policy: the engine keeps ~1,000 recent trades per market
    and their candles, and CPython's full collections over them grew to 40-130 ms within a minute
    (1,000 markets), holding every stream meanwhile."""
    upkeep = asyncio.create_task(gc_policy.upkeep(), name="gc-upkeep")
    try:
        await serve(venue)
    finally:
        upkeep.cancel()


async def serve(venue: SimulatedVenue) -> None:
    """Start ``venue``, print its URLs, and stop it cleanly on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await venue.start()
        try:
            print(f"simulated {venue.name} venue running; point a client at:", flush=True)
            for key, url in venue.base_urls().items():
                print(f"  {key:10} {url}", flush=True)
            print("quotewire instance urls:", flush=True)
            for key, url in venue.instance_urls().items():
                print(f"  {key}: {url}", flush=True)
            await stop.wait()
        finally:
            await venue.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
