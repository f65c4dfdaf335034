"""Real processes for end-to-end tests: a participant and coordinators we can SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Participant:
    """tests/e2e/participant.py in its own process."""

    def __init__(self, latency_ms: int = 150, *, first_latency_ms: int | None = None) -> None:
        first = [] if first_latency_ms is None else ["--first-latency-ms", str(first_latency_ms)]
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "e2e" / "participant.py"), "--latency-ms", str(latency_ms), *first],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("PORT "), f"participant did not start: {line!r}"
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def ledger(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.url}/_ledger", timeout=10).json()
        return data

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()


class Coordinator:
    """`saga serve` as a real process that tests can kill with SIGKILL and start again."""

    def __init__(self, *, database_url: str, sagas_dir: Path, log_path: Path, env: dict[str, str] | None = None):
        self.database_url = database_url
        self.sagas_dir = sagas_dir
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Short leases so takeovers happen within a test's patience; tests may override.
        self.env = {**os.environ, "SAGA_LEASE_SECONDS": "3", "SAGA_SWEEP_SECONDS": "0.5", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self, *, wait: bool = True, extra_env: dict[str, str] | None = None) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coordinator.cli",
                "serve",
                "--port",
                str(self.port),
                "--database-url",
                self.database_url,
                "--sagas-dir",
                str(self.sagas_dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**self.env, **(extra_env or {})},
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()
        if wait:
            wait_until(self._ready, timeout=30, what=f"coordinator on {self.url} (log {self.log_path})")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"coordinator exited with {self.process.returncode}: {self.log_path.read_text()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def signal(self, signum: int) -> None:
        """Send `signum` (SIGSTOP, SIGCONT, ...) to the coordinator process."""
        assert self.process is not None
        os.kill(self.process.pid, signum)

    def exited(self, timeout: float) -> int | None:
        """The exit code if the process ends within `timeout` seconds, else None."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
