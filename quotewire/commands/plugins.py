"""``quotewire plugins``: list installed adapters and simulated venues with their capabilities."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.plugins import PluginHost


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("plugins", help="list installed adapter plugins and their capabilities")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host = PluginHost.load()
    rows: list[dict[str, Any]] = []
    for name, adapter in sorted(host.adapters.items()):
        caps = adapter.capabilities
        rows.append(
            {
                "plugin": name,
                "class": f"{adapter.__module__}.{adapter.__qualname__}",
                "legacy": adapter.legacy,
                "channels": sorted(caps.channels),
                "stream_channels": sorted(caps.stream_channels),
                "intervals": [i.value for i in caps.intervals],
                "depth_levels": list(caps.depth_levels),
                "rate_limit": caps.rate_limit.model_dump() if caps.rate_limit else None,
                "simulated_venue": name in host.venues,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no adapter plugins installed")
    for row in rows:
        legacy = " (legacy)" if row["legacy"] else ""
        print(f"{row['plugin']}{legacy}  [{row['class']}]")
        print(f"  channels:   {', '.join(row['channels'])}")
        print(f"  streamed:   {', '.join(row['stream_channels']) or '-'}")
        print(f"  intervals:  {' '.join(row['intervals'])}")
        print(f"  depth:      {', '.join(str(d) for d in row['depth_levels'])}")
        limit = row["rate_limit"]
        if limit:
            print(f"  rate limit: {limit['limit']} {limit['unit']} / {limit['window_seconds']:g}s")
        print(f"  simulated venue: {'yes' if row['simulated_venue'] else 'no'}")
    return 0
