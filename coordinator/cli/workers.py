"""`saga serve --workers N`: N coordinator processes on one port, under a small supervisor.

Why processes: one coordinator is one event loop on one core (and its store threads share the
GIL). On PostgreSQL several replicas already share the work through leases (SPEC §3), so the
workers are simply N replicas on one machine that share one listening socket.

Why one pre-bound socket rather than SO_REUSEPORT: the supervisor binds the port once and every
worker accepts from the same queue. A connection waiting in that queue when a worker dies is
accepted by another worker; with SO_REUSEPORT each worker has its own queue, and the kernel resets
what was queued at the dead one.

The supervisor:
- migrates the schema once, binds the socket, then starts the workers (`saga serve` itself, told
  to serve on the inherited socket);
- restarts a worker that dies (with a growing delay when one keeps dying young); the executions
  the dead one drove are taken over by the others once its leases expire, like any replica's;
- on SIGTERM or SIGINT, sends SIGTERM to every worker (each finishes its calls in flight and hands
  its leases back), waits for them, and exits 0 when every worker exited cleanly;
- if the supervisor itself dies (even by SIGKILL), each worker sees the end of a pipe it holds
  and shuts down gracefully, so no worker outlives it.

Workers run in their own process group, so a terminal's Ctrl-C reaches the supervisor only, and
each worker gets exactly one SIGTERM from it (uvicorn takes a second signal as "exit now").
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

__all__ = ["WORKER_INDEX_ENV", "WorkerPool", "bind_shared_socket", "exit_when_supervisor_dies"]

log = logging.getLogger("coordinator")

WORKER_INDEX_ENV = "SAGA_WORKER_INDEX"
"""Set in each worker's environment (1..N), so its log lines can say which worker it is."""
_FIRST_DELAY_S = 0.5
_MAX_DELAY_S = 30.0
_YOUNG_S = 10.0
"""A worker that dies sooner than this after its start doubles the delay before the next one."""
_POLL_S = 0.1


def bind_shared_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port) that child processes inherit.

    Raises:
        OSError: the address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host.strip("[]"), port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def exit_when_supervisor_dies(pipe_fd: int, stop: Callable[[], None]) -> None:
    """In a worker: call `stop` (a graceful shutdown) once the supervisor's end of `pipe_fd` closes.

    The supervisor never writes to the pipe; the read returns only when every write end is closed,
    i.e. when the supervisor exited, however it died.
    """

    def watch() -> None:
        try:
            while os.read(pipe_fd, 1):
                pass
        except OSError:
            pass
        log.warning("the supervisor is gone: shutting this worker down")
        stop()

    threading.Thread(target=watch, name="saga-supervisor-watch", daemon=True).start()


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay_s: float = _FIRST_DELAY_S
    restart_at: float | None = None
    exit_codes: list[int] = field(default_factory=list)


class WorkerPool:
    """Runs `count` copies of a worker command on one inherited socket until told to stop."""

    def __init__(self, command: Sequence[str], *, count: int, sock: socket.socket, grace_s: float) -> None:
        self._command = list(command)
        self._sock = sock
        self._grace_s = grace_s
        self._workers = [_Worker(index) for index in range(1, count + 1)]
        self._stopping = threading.Event()
        # Workers hold the read end; only this process holds the write end (os.pipe() fds are
        # not inherited unless passed), so its closing -- our death -- is what they watch for.
        self._pipe_read, self._pipe_write = os.pipe()

    def worker_command(self) -> list[str]:
        """The command line of a worker, with the inherited descriptors named."""
        return [*self._command, "--worker-fds", f"{self._sock.fileno()},{self._pipe_read}"]

    def run(self) -> int:
        """Start the workers and supervise them until SIGTERM/SIGINT; 0 when all exited cleanly."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for worker in self._workers:
                self._start(worker)
            while not self._stopping.is_set():
                self._check()
                self._stopping.wait(_POLL_S)
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._pipe_read)
            os.close(self._pipe_write)

    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        return [w.process.pid for w in self._workers if w.process is not None and w.process.poll() is None]

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    def _start(self, worker: _Worker) -> None:
        worker.process = subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            self.worker_command(),
            pass_fds=(self._sock.fileno(), self._pipe_read),
            env={**os.environ, WORKER_INDEX_ENV: str(worker.index)},
            process_group=0,
        )
        worker.started_at = time.monotonic()
        worker.restart_at = None
        log.info("worker %d started (pid %d)", worker.index, worker.process.pid)

    def _check(self) -> None:
        now = time.monotonic()
        for worker in self._workers:
            if worker.restart_at is not None:
                if now >= worker.restart_at:
                    self._start(worker)
                continue
            assert worker.process is not None
            code = worker.process.poll()
            if code is None:
                continue
            worker.exit_codes.append(code)
            lived = now - worker.started_at
            if lived >= _YOUNG_S:  # it ran a while: the next death starts the back-off afresh
                worker.delay_s = _FIRST_DELAY_S
            worker.restart_at = now + worker.delay_s
            worker.delay_s = min(_MAX_DELAY_S, worker.delay_s * 2)
            log.warning(
                "worker %d (pid %d) exited with %s after %.1f s; restarting it in %.1f s "
                "(other workers take over its executions when its leases expire)",
                worker.index,
                worker.process.pid,
                _describe_exit(code),
                lived,
                worker.restart_at - now,
            )

    def _stop_all(self) -> int:
        running = [w.process for w in self._workers if w.process is not None and w.process.poll() is None]
        log.info("stopping %d workers (each finishes its calls in flight and hands its leases back)", len(running))
        for process in running:
            _signal(process, signal.SIGTERM)
        deadline = time.monotonic() + self._grace_s + 15.0
        clean = True
        for process in running:
            try:
                code = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop in time: killing it", process.pid)
                _signal(process, signal.SIGKILL)
                code = process.wait()
            # Killed by our SIGTERM means it was still starting (no handler yet, nothing in flight).
            clean = clean and code in (0, -signal.SIGTERM)
        log.info("every worker stopped")
        return 0 if clean else 1


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    process.send_signal(signum)  # does nothing for a process that already exited


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


def worker_fds(text: str) -> tuple[int, int]:
    """Parse `--worker-fds SOCKET,PIPE` (given by the supervisor)."""
    sock_fd, pipe_fd = (int(part) for part in text.split(","))
    return sock_fd, pipe_fd


def python_command() -> list[str]:
    """How to run `saga` with this interpreter, whatever started us (console script or -m)."""
    return [sys.executable, "-m", "coordinator.cli"]
