"""``quotewire import-legacy CONFIG.json``: turn the old collector's config into a plugins.yaml.

The old collector kept API keys and a list of lower-case pairs (``btcusdt``) in one JSON file.
Secrets are never written into plugins.yaml: it gets ``${ENV_VAR}`` references, and the values go to a
git-ignored ``.env`` beside it (mode 0600) that the config loader reads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError

# Quote assets, longest first, to split a pair like ``ethbtc`` or ``btcusdt``.
KNOWN_QUOTES = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "HUSD", "USDD", "EUR", "TRY", "BRL", "GBP",
    "BTC", "ETH", "BNB", "XRP", "TRX", "DAI", "HT",
)  # fmt: skip
_PAIR_KEYS = ("pairs", "symbols", "currency_pairs", "currencyPairs", "codes", "coins", "markets")
_KEY_NAMES = {"api_key": ("api_key", "apikey", "apiKey", "access_key", "accessKey", "key")}
_SECRET_NAMES = ("secret", "secret_key", "secretKey", "api_secret", "apiSecret")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("import-legacy", help="convert the old collector's CONFIG.json to plugins.yaml")
    parser.add_argument("file", help="the legacy CONFIG.json")
    parser.add_argument("-o", "--output", default="-", help="plugins.yaml to write (default: stdout)")
    parser.add_argument("--plugin", default="binance", help="adapter plugin of the instance")
    parser.add_argument("--instance", default=None, help="instance name (default: the plugin name)")
    parser.set_defaults(func=run)


def split_pair(pair: str) -> str:
    """``btcusdt`` → ``BTC/USDT``; already separated pairs are unified as they are."""
    text = pair.strip().upper().replace("-", "/").replace("_", "/")
    if "/" in text:
        return text
    for quote in KNOWN_QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return f"{text[: -len(quote)]}/{quote}"
    raise ConfigError(f"cannot tell base from quote in pair {pair!r}; write it as BASE/QUOTE")


def convert(legacy: dict[str, Any], *, plugin: str, instance: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (plugins.yaml document, secrets for .env) for a legacy config."""
    pairs = _find_pairs(legacy)
    prefix = instance.upper().replace("-", "_")
    secrets: dict[str, str] = {}
    body: dict[str, Any] = {"plugin": plugin, "symbols": [split_pair(p) for p in pairs]}
    api_key = _first(legacy, _KEY_NAMES["api_key"])
    secret = _first(legacy, _SECRET_NAMES)
    if api_key or secret:
        credentials: dict[str, str] = {}
        if api_key:
            secrets[f"{prefix}_API_KEY"] = api_key
            credentials["api_key"] = f"${{{prefix}_API_KEY}}"
        if secret:
            secrets[f"{prefix}_API_SECRET"] = secret
            credentials["secret"] = f"${{{prefix}_API_SECRET}}"
        body["credentials"] = credentials
    document = {"version": 1, "exchanges": {instance: body}, "api": {"legacy_instance": instance}}
    return document, secrets


def run(args: argparse.Namespace) -> int:
    try:
        legacy = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{args.file}: cannot read the file ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{args.file}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(legacy, dict):
        raise ConfigError(f"{args.file}: expected a JSON object at the top level")
    document, secrets = convert(legacy, plugin=args.plugin, instance=args.instance or args.plugin)
    text = yaml.safe_dump(document, sort_keys=False)
    if args.output == "-":
        print(text, end="")
        target_dir = Path.cwd()
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        target_dir = Path(args.output).resolve().parent
    if secrets:
        env_file = target_dir / ".env"
        existing = env_file.read_text(encoding="utf-8") if env_file.exists() else ""
        lines = [line for line in existing.splitlines() if line.partition("=")[0] not in secrets]
        lines += [f"{k}={v}" for k, v in secrets.items()]
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        names = ", ".join(secrets)
        print(f"# credentials written to {env_file} (git-ignored) as {names}", file=sys.stderr)
    return 0


def _find_pairs(legacy: dict[str, Any]) -> list[str]:
    for key in _PAIR_KEYS:
        value = legacy.get(key)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        if isinstance(value, str):
            return [p for p in value.replace(";", ",").split(",") if p.strip()]
    raise ConfigError(f"no list of currency pairs found (looked for keys: {', '.join(_PAIR_KEYS)})")


def _first(legacy: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = legacy.get(name)
        if isinstance(value, str) and value:
            return value
    return None
