"""Run the API on a free loopback port: in a thread (most tests) or a subprocess (load tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn

from api.app import create_app
from api.settings import ApiTuning
from core.config import AppConfig
from tests.support.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"API did not listen on port {port}")


class ThreadedApi:
    """``create_app(config, tuning)`` under uvicorn in a background thread."""

    def __init__(self, config: AppConfig, tuning: ApiTuning | None = None) -> None:
        self.port = free_port()
        self.app = create_app(config, tuning)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                lifespan="on", ws="websockets-sansio", ws_ping_interval=None,
            )
        )  # fmt: skip
        self._thread = threading.Thread(target=self._server.run, name="api-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class SubprocessApi:
    """``quotewire api --config FILE`` in a child process (its own core and GIL)."""

    def __init__(self, config_path: Path, redis_url: str, *, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self._argv = [sys.executable, "-m", "quotewire.cli", "api", "--config", str(config_path),
                      "--port", str(self.port)]  # fmt: skip
        self._env = {**os.environ, "QUOTEWIRE_REDIS_URL": redis_url, **(extra_env or {})}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def __enter__(self) -> Self:
        self._proc = subprocess.Popen(self._argv, cwd=REPO, env=self._env)
        try:
            _wait_for_port(self.port)
        except RuntimeError:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
