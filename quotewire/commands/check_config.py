"""``quotewire check-config FILE``: validate a plugins.yaml without starting anything."""

from __future__ import annotations

import argparse

from core.config import load_config
from core.plugins import PluginHost


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("check-config", help="validate a plugins.yaml")
    parser.add_argument("file", help="path to plugins.yaml")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host = PluginHost.load()
    config = load_config(args.file, plugins=host.adapters.keys())
    for instance in config.exchanges.values():
        state = "enabled" if instance.enabled else "disabled"
        symbols = (
            ", ".join(instance.symbols) if isinstance(instance.symbols, list) else f"rule {instance.symbols}"
        )
        print(f"{instance.name}: plugin {instance.plugin}, {state}, {instance.transport}; symbols {symbols}")
    print(f"{args.file}: OK ({len(config.exchanges)} instance(s))")
    return 0
