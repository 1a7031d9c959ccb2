"""``plugins.yaml``: the validated configuration of a quotewire deployment.

Exchanges are *named instances* (``binance-sim: {plugin: binance, …}``) so two instances of one
plugin can coexist and simulated data is stored under its own name. ``${ENV_VAR}`` references are
resolved from the environment (or a git-ignored ``.env`` file beside the config) before validation.
Every error names the file, the path inside it and what was expected, on one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from core.errors import ConfigError
from core.intervals import ALL_INTERVALS, Interval
from core.models import ALL_CHANNELS, Channel

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/2"
INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Strict(BaseModel):
    """Configuration section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SymbolRule(Strict):
    """Select symbols from the venue's markets instead of listing them."""

    quote: list[str] | None = Field(None, description="keep markets quoted in one of these assets")
    base: list[str] | None = None
    status: Literal["trading", "any"] = "trading"
    limit: int | None = Field(None, gt=0, description="keep at most this many, by venue order")


class VenueUrls(Strict):
    """Overrides of the venue's endpoints (point an adapter at a simulated venue)."""

    rest: str | None = None
    websocket: str | None = None
    extra: dict[str, str] = Field(default_factory=dict, description="adapter-specific endpoints")


class Credentials(Strict):
    """API credentials; only ever given as ``${ENV_VAR}`` references. Never logged."""

    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None


class InstanceConfig(Strict):
    """One exchange instance: which plugin, which symbols and channels, how to reach the venue."""

    name: str = Field(description="the instance name (the key in ``exchanges:``)")
    plugin: str
    enabled: bool = True
    simulated: bool = Field(False, description="data comes from a simulated venue")
    ccxt_id: str | None = Field(None, description="for the generic 'ccxt' plugin: the ccxt exchange id")
    symbols: list[str] | SymbolRule = Field(default_factory=lambda: ["BTC/USDT"])
    channels: list[Channel] = Field(default_factory=lambda: list(ALL_CHANNELS))
    intervals: list[Interval] = Field(default_factory=lambda: list(ALL_INTERVALS))
    depth_levels: int = Field(20, gt=0, le=5000)
    transport: Literal["websocket", "rest", "auto"] = "auto"
    poll_interval: float = Field(1.0, gt=0, le=3600, description="REST cadence in seconds")
    rate_limit_share: float = Field(0.8, gt=0, le=1, description="share of the venue limit to use")
    kline_history: int = Field(1000, ge=0, le=100_000, description="candles to backfill per interval")
    taker_fee: str | None = Field(None, description="override the venue's standard taker fee")
    urls: VenueUrls = Field(default_factory=VenueUrls)
    credentials: Credentials | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="adapter-specific settings")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not INSTANCE_NAME.match(value):
            raise ValueError("instance names are 1-40 of a-z 0-9 _ - starting with a letter or digit")
        return value

    @field_validator("symbols")
    @classmethod
    def _unified_symbols(cls, value: list[str] | SymbolRule) -> list[str] | SymbolRule:
        if isinstance(value, list):
            bad = [s for s in value if "/" not in s]
            if bad:
                raise ValueError(f"symbols are unified BASE/QUOTE, e.g. BTC/USDT (got {bad[0]!r})")
            return [s.upper() for s in value]
        return value


class RedisConfig(Strict):
    """Where the store lives; ``QUOTEWIRE_REDIS_URL`` overrides ``url``."""

    url: str = DEFAULT_REDIS_URL


class ApiConfig(Strict):
    """The HTTP API."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    legacy_instance: str | None = Field(None, description="instance the legacy /GetData/ reads")
    stale_after: float = Field(5.0, gt=0, description="seconds after which data is flagged stale")
    api_keys: list[SecretStr] = Field(default_factory=list, description="when set, keys are required")
    cors_origins: list[str] = Field(default_factory=list)


class CollectorConfig(Strict):
    """Tuning of the collector process."""

    flush_interval_ms: int = Field(10, ge=1, le=10_000, description="store batching window")
    max_buffered: int = Field(100_000, ge=100, description="records held while Redis is away")
    stall_timeout: float = Field(30.0, gt=0, description="seconds without frames before reconnect")
    markets_refresh: float = Field(
        3600.0,
        gt=0,
        description="seconds between reloads of each venue's markets (a symbol rule follows them)",
    )


class AppConfig(Strict):
    """The whole of plugins.yaml."""

    version: Literal[1] = 1
    redis: RedisConfig = Field(default_factory=RedisConfig)
    exchanges: dict[str, InstanceConfig] = Field(default_factory=dict)
    api: ApiConfig = Field(default_factory=ApiConfig)
    collector: CollectorConfig = Field(default_factory=CollectorConfig)

    @property
    def enabled(self) -> list[InstanceConfig]:
        """Enabled instances, in file order."""
        return [i for i in self.exchanges.values() if i.enabled]

    @property
    def redis_url(self) -> str:
        """The Redis URL in force (environment first)."""
        return os.environ.get("QUOTEWIRE_REDIS_URL") or self.redis.url


def load_config(
    path: str | Path, *, plugins: Collection[str] | None = None, environ: Mapping[str, str] | None = None
) -> AppConfig:
    """Read, resolve and validate a plugins.yaml; raise :class:`ConfigError` naming the place."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from None
    return parse_config(text, source=str(path), plugins=plugins, environ=environ, base_dir=path.parent)


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    plugins: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> AppConfig:
    """Validate configuration text; see :func:`load_config`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise ConfigError(f"{source}: {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping (got {type(raw).__name__})")
    env = dict(_dotenv(base_dir / ".env") if base_dir else {})
    env.update(environ if environ is not None else os.environ)
    resolved = _resolve_env(raw, env, source, ())
    exchanges = resolved.get("exchanges")
    if isinstance(exchanges, dict):
        resolved["exchanges"] = {
            name: {**body, "name": name} if isinstance(body, dict) else body
            for name, body in exchanges.items()
        }
    try:
        config = AppConfig.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(_describe(source, exc)) from None
    _check_references(config, source, plugins)
    return config


def _check_references(config: AppConfig, source: str, plugins: Collection[str] | None) -> None:
    for name, instance in config.exchanges.items():
        if plugins is not None and instance.plugin not in plugins:
            known = ", ".join(sorted(plugins)) or "none installed"
            raise ConfigError(
                f"{source}: exchanges.{name}.plugin: unknown plugin {instance.plugin!r} "
                f"(expected one of: {known})"
            )
        if instance.plugin == "ccxt" and not instance.ccxt_id:
            raise ConfigError(f"{source}: exchanges.{name}.ccxt_id: required for plugin 'ccxt'")
    legacy = config.api.legacy_instance
    if legacy is not None and legacy not in config.exchanges:
        known = ", ".join(config.exchanges) or "none"
        raise ConfigError(
            f"{source}: api.legacy_instance: unknown instance {legacy!r} (expected one of: {known})"
        )


def _resolve_env(node: Any, env: Mapping[str, str], source: str, path: tuple[str | int, ...]) -> Any:
    if isinstance(node, dict):
        return {k: _resolve_env(v, env, source, (*path, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_env(v, env, source, (*path, i)) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"{source}: {_format_path(path)}: environment variable {name} is not set "
                "(expected it in the environment or in .env beside the config)"
            )

        return _ENV_REF.sub(substitute, node)
    return node


def _dotenv(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines of a local, git-ignored secrets file, if there is one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def _format_path(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top>"


def _describe(source: str, exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p in ("list[str]", "SymbolRule")))
    where = _format_path(loc)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        message = f"unknown key {loc[-1]!r}{hint}"
    else:
        message = error["msg"]
        if error.get("input") is not None and error["type"] != "missing":
            message += f" (got {error['input']!r})"
    more = len(exc.errors()) - 1
    suffix = f" [+{more} more error{'s' if more > 1 else ''}]" if more else ""
    return f"{source}: {where}: {message}{suffix}"


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    model: type[BaseModel] = AppConfig
    i = 0
    while i < len(parent):
        part = parent[i]
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        if model is AppConfig and part == "exchanges":
            model, i = InstanceConfig, i + 2
            continue
        nested = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        models = [a for a in nested if issubclass(a, BaseModel)]
        if not models:
            return []
        model, i = models[0], i + 1
    return [k for k in model.model_fields if k != "name" or model is not InstanceConfig]
