"""plugins.yaml validation: every mistake names the file, the path in it and what was expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config, parse_config
from core.errors import ConfigError
from core.intervals import ALL_INTERVALS
from core.models import ALL_CHANNELS

PLUGINS = ("binance", "huobi", "ccxt")
REPO = Path(__file__).resolve().parent.parent


def check(text: str, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(text, source="plugins.yaml", plugins=PLUGINS, environ={}, **kwargs)  # type: ignore[arg-type]
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("plugins.yaml: ")
    return message


def test_defaults() -> None:
    config = parse_config("exchanges:\n  binance:\n    plugin: binance\n", plugins=PLUGINS, environ={})
    instance = config.exchanges["binance"]
    assert instance.name == "binance"
    assert instance.enabled
    assert instance.transport == "auto"
    assert instance.poll_interval == 1.0
    assert list(instance.intervals) == list(ALL_INTERVALS)
    assert list(instance.channels) == list(ALL_CHANNELS)
    assert config.redis.url.endswith("/2")
    assert config.api.port == 8000


def test_two_instances_of_one_plugin_coexist() -> None:
    text = (
        "exchanges:\n  binance:\n    plugin: binance\n"
        "  binance-sim:\n    plugin: binance\n    simulated: true\n"
    )
    config = parse_config(text, plugins=PLUGINS, environ={})
    assert [i.name for i in config.enabled] == ["binance", "binance-sim"]
    assert config.exchanges["binance-sim"].simulated


def test_typo_in_a_key() -> None:
    message = check("exchanges:\n  binance:\n    plugin: binance\n    intervalz: [1m]\n")
    assert "exchanges.binance.intervalz: unknown key 'intervalz'" in message
    assert "intervals" in message  # says what was expected


def test_unknown_top_level_key() -> None:
    assert "exchange: unknown key 'exchange'" in check("exchange: {}\n")


def test_unknown_plugin() -> None:
    message = check("exchanges:\n  b:\n    plugin: kraken\n")
    assert "exchanges.b.plugin: unknown plugin 'kraken' (expected one of: binance, ccxt, huobi)" in message


def test_bad_interval() -> None:
    message = check("exchanges:\n  b:\n    plugin: binance\n    intervals: [1m, 2m]\n")
    assert "exchanges.b.intervals[1]" in message
    assert "'2m'" in message
    assert "'1M'" in message


def test_missing_environment_variable() -> None:
    message = check('exchanges:\n  b:\n    plugin: binance\n    credentials: {api_key: "${QW_TEST_NOPE}"}\n')
    assert "exchanges.b.credentials.api_key: environment variable QW_TEST_NOPE is not set" in message


def test_environment_variables_become_secrets(tmp_path: Path) -> None:
    text = 'exchanges:\n  b:\n    plugin: binance\n    credentials: {api_key: "${K}", secret: "${S}"}\n'
    config = parse_config(text, plugins=PLUGINS, environ={"K": "key-123", "S": "s3cr3t"})
    credentials = config.exchanges["b"].credentials
    assert credentials is not None
    assert credentials.api_key is not None
    assert credentials.api_key.get_secret_value() == "key-123"
    assert "s3cr3t" not in repr(config)
    assert "s3cr3t" not in str(config.model_dump())


def test_dotenv_beside_the_config_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QW_DOTENV_KEY=from-file\n")
    (tmp_path / "plugins.yaml").write_text(
        'exchanges:\n  b:\n    plugin: binance\n    credentials: {api_key: "${QW_DOTENV_KEY}"}\n'
    )
    config = load_config(tmp_path / "plugins.yaml", plugins=PLUGINS, environ={})
    credentials = config.exchanges["b"].credentials
    assert credentials is not None
    assert credentials.api_key is not None
    assert credentials.api_key.get_secret_value() == "from-file"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("exchanges:\n  B!:\n    plugin: binance\n", "exchanges.B!.name"),
        ("exchanges:\n  b:\n    plugin: binance\n    transport: pigeon\n", "exchanges.b.transport"),
        ("exchanges:\n  b:\n    plugin: binance\n    poll_interval: 0\n", "exchanges.b.poll_interval"),
        ("exchanges:\n  b:\n    plugin: binance\n    symbols: [BTCUSDT]\n", "exchanges.b.symbols"),
        ("exchanges:\n  b:\n    plugin: binance\n    channels: [tickr]\n", "exchanges.b.channels[0]"),
        ("exchanges:\n  b:\n    plugin: ccxt\n", "exchanges.b.ccxt_id: required"),
        ("exchanges:\n  b:\n    plugin: binance\napi: {legacy_instance: x}\n", "api.legacy_instance"),
        ("version: 2\n", "version"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("a: [\n", "line 2: not valid YAML"),
    ],
)
def test_other_mistakes_name_their_place(text: str, fragment: str) -> None:
    assert fragment in check(text)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the file"):
        load_config("nope.yaml")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quotewire.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_check_config_cli_rejects_a_bad_file_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "plugins.yaml"
    bad.write_text("exchanges:\n  binance:\n    plugin: binance\n    intervals: [1m, 7m]\n")
    result = run_cli("check-config", str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{bad}: exchanges.binance.intervals[1]" in lines[0]


def test_shipped_plugins_yaml_is_valid() -> None:
    result = run_cli("check-config", str(REPO / "plugins.yaml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
