"""Start, watch and stop the child processes of ``quotewire up``.

Each part runs as its own ``quotewire`` sub-command in a child process, so the collector and the API
each get a core. The supervisor stops every child it started (by PID, reverse order) on Ctrl-C,
SIGTERM, or when any child dies.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from core.errors import QuotewireError

log = logging.getLogger(__name__)


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: Sequence[str]
    ready_port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


class Supervisor:
    """Runs children until a signal or a child's death, then stops them all."""

    def __init__(self, run_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.run_dir = run_dir
        self.env = {**os.environ, **(env or {})}
        self.children: list[Child] = []
        self._stopping = False

    def start(self, child: Child, *, ready_timeout: float = 30.0) -> None:
        """Start ``child`` (logging to run_dir/NAME.log) and wait until its port answers."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.run_dir / f"{child.name}.log"
        with log_path.open("ab") as log_file:
            child.process = subprocess.Popen(
                list(child.argv),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.children.append(child)
        if child.ready_port is None:
            return
        deadline = time.monotonic() + ready_timeout
        while not port_open("127.0.0.1", child.ready_port):
            if child.process.poll() is not None:
                raise QuotewireError(
                    f"{child.name} exited at start (code {child.process.returncode}); see {log_path}"
                )
            if time.monotonic() > deadline:
                raise QuotewireError(
                    f"{child.name} did not open port {child.ready_port} in {ready_timeout:g}s"
                )
            time.sleep(0.1)

    def wait(self) -> int:
        """Block until SIGINT/SIGTERM (exit 0) or a child's death (exit 1); then stop everything."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self._stopping:
                for child in self.children:
                    assert child.process is not None
                    if child.process.poll() is not None:
                        print(
                            f"quotewire: {child.name} exited (code {child.process.returncode}); "
                            f"see {self.run_dir / (child.name + '.log')}",
                            file=sys.stderr,
                        )
                        return 1
                time.sleep(0.2)
            return 0
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Terminate the children in reverse start order; kill any that ignore it for 10 s."""
        for child in reversed(self.children):
            process = child.process
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in reversed(self.children):
            process = child.process
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing pid %d", child.name, process.pid)
                process.kill()
                process.wait()
        self.children.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
