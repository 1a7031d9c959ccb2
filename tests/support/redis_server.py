"""A private redis-server for tests: free port, no persistence, stopped by PID."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """Start, stop and restart one redis-server process on a fixed loopback port."""

    def __init__(self, port: int | None = None, *, unix_socket: bool = False, tls: bool = False) -> None:
        self.port = port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="qw-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.socket_path: Path | None = self._dir / "redis.sock" if unix_socket else None
        """Where the server also listens on a Unix socket, if asked to."""
        self.tls_port: int | None = free_port() if tls else None
        """Where the server also listens for TLS, if asked to: its certificate is for 127.0.0.1,
        signed by :attr:`ca_file`, a certificate authority made for this server alone."""
        self.ca_file = self._dir / "ca.pem"

    def url(self, db: int = 2) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (./dev test installs it)")
        unix = ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"] if self.socket_path else []
        tls = self._tls_options() if self.tls_port is not None else []
        self._proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self._dir), "--protected-mode", "yes", "--loglevel", "warning", *unix, *tls],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def _tls_options(self) -> list[str]:
        """Make the certificate authority and the server's certificate (once), with ``openssl``."""
        d = self._dir
        if not (d / "server.pem").exists():
            openssl = shutil.which("openssl")
            if openssl is None:
                raise RuntimeError("openssl is not installed: cannot make a test certificate")
            (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
            for args in (
                ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                 "-days", "2", "-subj", "/CN=quotewire test CA"],
                ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                 "-subj", "/CN=127.0.0.1"],
                ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.pem", "-days", "2", "-extfile", "san.cnf"],
            ):  # fmt: skip
                subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)
        return [
            "--tls-port", str(self.tls_port), "--tls-cert-file", str(d / "server.pem"),
            "--tls-key-file", str(d / "server.key"), "--tls-ca-cert-file", str(self.ca_file),
            "--tls-auth-clients", "no",
        ]  # fmt: skip

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
