"""``quotewire`` console script: one sub-command per module in :mod:`quotewire.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from core.errors import QuotewireError
from core.logs import LOG_FORMAT_ENV, configure_logging, log_format

# Each module defines ``register(subparsers)``, which adds its parser and sets ``func``.
COMMAND_MODULES = (
    "quotewire.commands.plugins",
    "quotewire.commands.check_config",
    "quotewire.commands.import_legacy",
    "quotewire.commands.collect",
    "quotewire.commands.up",
    "quotewire.commands.api",
    "quotewire.commands.sim",
    "quotewire.commands.arb",
    "quotewire.commands.arbitrage",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="quotewire",
        description="Real-time crypto market data: collect, normalize, store in Redis, serve.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help=f"log lines as text (the default) or one JSON object each (also ${LOG_FORMAT_ENV}; "
        "the processes `up` starts inherit it)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        chosen = log_format(args.log_format)
    except ValueError as exc:
        parser.error(f"${LOG_FORMAT_ENV}: {exc}")
    os.environ[LOG_FORMAT_ENV] = chosen  # for the processes `quotewire up` starts
    configure_logging(verbose=args.verbose, format=chosen)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result: int = args.func(args)
    except QuotewireError as exc:
        print(f"quotewire: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
