"""``quotewire up``: the whole system on this machine.

With no arguments it runs the offline demo: the simulated Binance and HTX venues, a collector whose
instances (``binance-sim``, ``huobi-sim``) point at them, the arbitrage service (``quotewire
arbitrage``: their engines, off the collector's event loop) and the API on 127.0.0.1:8000, storing into
``$QUOTEWIRE_REDIS_URL`` or 127.0.0.1:6379 db 2. A private redis-server is started when none answers
at that URL. ``--config FILE`` runs what the
file says instead. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

import redis
import yaml

from core.arbitrage.service import service_settings
from core.config import AppConfig, load_config, parse_config
from core.errors import QuotewireError
from core.plugins import PluginHost
from quotewire.supervisor import Child, Supervisor, free_port, port_open

RUN_DIR = Path(".run")
DEMO_SYMBOLS = ["BTC/USDT", "ETH/USDT", "BNB/USDT", "ETH/BTC", "BNB/BTC", "BNB/ETH", "SOL/USDT", "XRP/USDT"]
DEMO_VENUE_PORTS = {"binance": 9001, "huobi": 9002}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("up", help="run the whole system (offline demo without --config)")
    parser.add_argument("--config", help="plugins.yaml to run instead of the offline demo")
    parser.add_argument("--host", default="127.0.0.1", help="API host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="API port (default 8000)")
    parser.add_argument("--symbols", type=int, default=50, help="demo: symbols per simulated venue")
    parser.add_argument("--seed", type=int, default=1, help="demo: seed of the simulated venues")
    parser.add_argument("--run-dir", default=str(RUN_DIR), help="logs and generated config (default .run)")
    parser.set_defaults(func=run)


def quotewire_argv(*args: str) -> list[str]:
    """argv that runs a quotewire sub-command with this interpreter."""
    return [sys.executable, "-m", "quotewire.cli", *args]


def redis_answers(url: str) -> bool:
    """True when a Redis server answers PING at ``url``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def ensure_redis(url: str, supervisor: Supervisor) -> str:
    """``url`` if Redis answers there, else the URL of a private redis-server started now."""
    if redis_answers(url):
        return url
    binary = shutil.which("redis-server")
    if binary is None:
        raise QuotewireError(
            f"no Redis answers at {url} and redis-server is not installed (./dev up installs it)"
        )
    port = free_port()
    data_dir = (supervisor.run_dir / "redis").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    supervisor.start(
        Child(
            "redis",
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(data_dir)],
            ready_port=port,
        )
    )  # fmt: skip
    db = urlsplit(url).path.strip("/") or "2"
    return f"redis://127.0.0.1:{port}/{db}"


def demo_config(venue_urls: dict[str, dict[str, str]], redis_url: str, host: str, port: int) -> AppConfig:
    """The embedded demo: one ``<venue>-sim`` instance per simulated venue."""
    exchanges = {
        f"{venue}-sim": {
            "plugin": venue,
            "simulated": True,
            "symbols": DEMO_SYMBOLS,
            "urls": urls,
            "options": {"arbitrage": {"runs_in": "service"}},
        }
        for venue, urls in venue_urls.items()
    }
    legacy = "binance-sim" if "binance-sim" in exchanges else next(iter(exchanges), None)
    document = {
        "version": 1,
        "redis": {"url": redis_url},
        "exchanges": exchanges,
        "api": {"host": host, "port": port, "legacy_instance": legacy},
    }
    return parse_config(yaml.safe_dump(document), source="<demo>")


def run(args: argparse.Namespace) -> int:
    host = PluginHost.load()
    run_dir = Path(args.run_dir)
    supervisor = Supervisor(run_dir)
    try:
        if args.config:
            config = load_config(args.config, plugins=host.adapters.keys())
            config_path = Path(args.config)
            redis_url = ensure_redis(config.redis_url, supervisor)
            venues: dict[str, dict[str, str]] = {}
        else:
            redis_url = ensure_redis(AppConfig().redis_url, supervisor)  # QUOTEWIRE_REDIS_URL or the default
            venues = start_venues(host, supervisor, args)
            config = demo_config(venues, redis_url, args.host, args.port)
            config_path = run_dir / "demo.yaml"
            config_path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
        supervisor.env["QUOTEWIRE_REDIS_URL"] = redis_url
        supervisor.start(Child("collector", quotewire_argv("collect", "--config", str(config_path))))
        if service_settings(config):
            supervisor.start(Child("arbitrage", quotewire_argv("arbitrage", "--config", str(config_path))))
        api_port = config.api.port
        if port_open(config.api.host, api_port):
            raise QuotewireError(f"port {api_port} is taken; pass --port or free it")
        supervisor.start(
            Child("api", quotewire_argv("api", "--config", str(config_path)), ready_port=api_port),
            ready_timeout=60,
        )
    except BaseException:
        supervisor.stop()
        raise
    print_banner(config, redis_url, venues, run_dir)
    return supervisor.wait()


def start_venues(
    host: PluginHost, supervisor: Supervisor, args: argparse.Namespace
) -> dict[str, dict[str, str]]:
    """Start the built-in simulated venues; return their ``urls:`` blocks by venue."""
    names = [name for name in DEMO_VENUE_PORTS if name in host.venues]
    if not names:
        raise QuotewireError("the built-in simulated venues are not installed; run with --config FILE")
    urls: dict[str, dict[str, str]] = {}
    for name in names:
        port = DEMO_VENUE_PORTS[name]
        if port_open("127.0.0.1", port):
            port = free_port()
        argv = quotewire_argv(
            "sim",
            "--venue",
            name,
            "--port",
            str(port),
            "--seed",
            str(args.seed),
            "--symbols",
            str(args.symbols),
        )
        supervisor.start(Child(f"sim-{name}", argv, ready_port=port))
        # building a venue does no I/O: ask it for the urls an instance needs at that port
        urls[name] = dict(host.venues[name](host="127.0.0.1", port=port).instance_urls())
    return urls


def print_banner(config: AppConfig, redis_url: str, venues: dict[str, dict[str, str]], run_dir: Path) -> None:
    api = f"http://{config.api.host}:{config.api.port}"
    lines = ["", "quotewire is up:", f"  API docs     {api}/docs", f"  health       {api}/health"]
    first = next(iter(config.exchanges), None)
    if first:
        lines.append(f"  quote        {api}/v1/exchanges/{first}/symbols/BTC-USDT/quote")
    if config.api.legacy_instance:
        lines.append(f"  legacy       {api}/GetData/?pageSize=1&type=1&code=btcusdt")
    lines.append(f"  live push    ws://{config.api.host}:{config.api.port}/v1/stream")
    for name, urls in venues.items():
        lines.append(f"  {name + '-sim':<12} {urls['rest']} (simulated {name} venue)")
    lines.append(f"  redis        {redis_url} (keys qw:v1:*)")
    lines.append(f"  logs         {run_dir}/*.log")
    lines.append("Ctrl-C stops everything.")
    print("\n".join(lines), flush=True)
