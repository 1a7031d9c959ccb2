"""The command line: help, plugin listing, legacy import."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.errors import ConfigError
from quotewire.commands.import_legacy import convert, split_pair

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quotewire.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("plugins", "check-config", "import-legacy"):
        assert command in result.stdout


def test_plugins_lists_built_in_adapters_with_capabilities() -> None:
    result = run_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["plugin"]: row for row in json.loads(result.stdout)}
    assert "binance" in rows
    assert set(rows["binance"]["intervals"]) == {"1m", "5m", "15m", "30m", "1h", "1d", "1w", "1M"}
    assert "depth" in rows["binance"]["channels"]


@pytest.mark.parametrize(
    ("pair", "unified"),
    [("btcusdt", "BTC/USDT"), ("ethbtc", "ETH/BTC"), ("bnbeth", "BNB/ETH"), ("eth_usdt", "ETH/USDT")],
)
def test_split_pair(pair: str, unified: str) -> None:
    assert split_pair(pair) == unified


def test_split_pair_refuses_guesses() -> None:
    with pytest.raises(ConfigError, match="cannot tell base from quote"):
        split_pair("foobar")


def test_convert_keeps_secrets_out_of_the_yaml() -> None:
    document, secrets = convert(
        {"access_key": "AK-1", "secret_key": "SK-1", "symbols": ["btcusdt", "ethbtc"]},
        plugin="binance",
        instance="binance",
    )
    assert document["exchanges"]["binance"]["symbols"] == ["BTC/USDT", "ETH/BTC"]
    assert document["exchanges"]["binance"]["credentials"] == {
        "api_key": "${BINANCE_API_KEY}",
        "secret": "${BINANCE_API_SECRET}",
    }
    assert secrets == {"BINANCE_API_KEY": "AK-1", "BINANCE_API_SECRET": "SK-1"}


def test_import_legacy_end_to_end(tmp_path: Path) -> None:
    legacy = tmp_path / "CONFIG.json"
    legacy.write_text(json.dumps({"api_key": "AK-2", "secret": "SK-2", "pairs": ["btcusdt", "ethusdt"]}))
    out = tmp_path / "plugins.yaml"
    result = run_cli("import-legacy", str(legacy), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "AK-2" not in out.read_text()
    assert "AK-2" not in result.stdout + result.stderr
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
    config = load_config(out, environ={})
    instance = config.exchanges["binance"]
    assert instance.symbols == ["BTC/USDT", "ETH/USDT"]
    assert instance.credentials is not None
    assert instance.credentials.api_key is not None
    assert instance.credentials.api_key.get_secret_value() == "AK-2"
    assert config.api.legacy_instance == "binance"


def test_import_legacy_rejects_garbage(tmp_path: Path) -> None:
    legacy = tmp_path / "CONFIG.json"
    legacy.write_text("{not json")
    result = run_cli("import-legacy", str(legacy))
    assert result.returncode == 1
    assert "not valid JSON" in result.stderr
