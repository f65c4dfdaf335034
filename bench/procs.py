"""Processes the harness starts (participant, coordinator, drivers, py-spy), and how it talks to them.

Every child is started with PR_SET_PDEATHSIG (it dies with the harness, even on `kill -9`) and is
registered, so `Processes.stop_all()` in a `finally` leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

import psutil

_PR_SET_PDEATHSIG = 1
PYTHON = sys.executable
SAGA = str(Path(sys.executable).with_name("saga"))


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Processes:
    """The children of this harness run."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def spawn(self, argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `argv` with stdout and stderr appended to `log`."""
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("ab")
        self._logs.append(handle)
        child = subprocess.Popen(
            argv,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )
        self._children.append(child)
        return child

    def run(
        self, argv: list[str], *, timeout_s: float, env: dict[str, str] | None = None, stdin: bytes | None = None
    ) -> str:
        """Run `argv` to completion (bounded by `timeout_s`), feeding it `stdin`; return its stdout."""
        child = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )
        self._children.append(child)
        try:
            out, err = child.communicate(input=stdin, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise RuntimeError(f"{argv[:4]} did not finish within {timeout_s:.0f}s") from None
        finally:
            self._children.remove(child)
        if child.returncode != 0:
            raise RuntimeError(f"{argv[:4]} exited {child.returncode}: {err.decode(errors='replace')[-2000:]}")
        return out.decode()

    def stop(self, child: subprocess.Popen[bytes], *, kill: bool = False, timeout_s: float = 15.0) -> None:
        """SIGTERM (or SIGKILL) `child` and wait for it; SIGKILL if it outlives `timeout_s`."""
        if child.poll() is None:
            child.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                child.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=timeout_s)
        if child in self._children:
            self._children.remove(child)

    def stop_all(self) -> None:
        """Stop every child still running, then close the log files."""
        for child in list(self._children):
            self.stop(child, timeout_s=5.0)
        for handle in self._logs:
            handle.close()
        self._logs.clear()


def http(method: str, url: str, body: bytes | None = None, *, timeout_s: float = 30.0) -> tuple[int, bytes]:
    """One plain HTTP request from the harness (control traffic only; never timed)."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get_json(url: str, *, timeout_s: float = 30.0) -> Any:
    """GET `url` and decode its JSON; RuntimeError unless 200."""
    status, body = http("GET", url, timeout_s=timeout_s)
    if status != 200:
        raise RuntimeError(f"GET {url}: HTTP {status}: {body[:300]!r}")
    return json.loads(body)


def wait_until_up(url: str, child: subprocess.Popen[bytes], *, timeout_s: float, log: Path | None = None) -> float:
    """Poll `url` until it answers 200; return the seconds it took. Raises if the child exits or time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if child.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"process exited with {child.returncode} before {url} answered:\n{tail}")
        with contextlib.suppress(OSError):
            status, _ = http("GET", url, timeout_s=2.0)
            if status == 200:
                return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s")


class Usage:
    """CPU seconds (user + system, all threads) and RSS of one process and its children (the
    workers of `saga serve --workers N`), sampled with psutil."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    def _tree(self) -> list[psutil.Process]:
        return [self.process, *self.process.children(recursive=True)]

    def cpu_s(self) -> float:
        total = 0.0
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        total = 0
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total
