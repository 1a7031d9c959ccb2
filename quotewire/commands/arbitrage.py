"""``quotewire arbitrage [--config plugins.yaml]``: the arbitrage engines that run as a service.

Runs the engine of every enabled instance whose ``options.arbitrage.runs_in`` is ``service``, fed
from Redis (see :mod:`core.arbitrage.service`), until SIGINT/SIGTERM. ``quotewire up`` starts it
beside the collector when the configuration has such an instance.
"""

from __future__ import annotations

import argparse
import logging

from core.arbitrage.service import ArbitrageService, service_settings
from core.config import load_config
from core.errors import ConfigError
from core.plugins import PluginHost
from quotewire import gc_policy
from quotewire.commands.collect import run_until_signalled, with_gc_upkeep

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "arbitrage", help="run the arbitrage engines of instances with options.arbitrage.runs_in: service"
    )
    parser.add_argument(
        "--config", default="plugins.yaml", help="path to plugins.yaml (default ./plugins.yaml)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host = PluginHost.load()
    config = load_config(args.config, plugins=host.adapters.keys())
    settings = service_settings(config)
    if not settings:
        raise ConfigError(
            f"{args.config}: no enabled instance runs arbitrage as a service"
            " (options.arbitrage.runs_in: service)"
        )
    flush_interval = config.collector.flush_interval_ms / 1000
    service = ArbitrageService(config.redis_url, settings, flush_interval=flush_interval)
    gc_policy.tune()
    log.info("arbitrage service for %s, reading %s", ", ".join(sorted(settings)), args.config)

    run_until_signalled(with_gc_upkeep(service.run))
    return 0
