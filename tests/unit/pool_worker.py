"""A stand-in worker for the supervisor's tests: answers each connection on the inherited socket
with its pid, says on stdout which signal or event stopped it, and exits 0."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
from pathlib import Path

from coordinator.cli.workers import exit_when_supervisor_dies, worker_fds


def main() -> None:
    sock_fd, pipe_fd = worker_fds(sys.argv[sys.argv.index("--worker-fds") + 1])
    sock = socket.socket(fileno=sock_fd)
    sock.setblocking(False)  # a sibling may take the connection select announced
    stop = threading.Event()

    def stopped_by(what: str) -> None:
        os.write(1, f"{what} {os.getpid()}\n".encode())  # one write: siblings share the pipe
        stop.set()

    signal.signal(signal.SIGTERM, lambda *_: stopped_by("TERM"))
    exit_when_supervisor_dies(pipe_fd, lambda: stopped_by("ORPHAN"))
    Path(os.environ["POOL_DIR"], f"up-{os.getpid()}").touch()  # ready: handlers installed
    while not stop.is_set():
        if not select.select([sock], [], [], 0.05)[0]:
            continue
        try:
            conn, _ = sock.accept()
        except BlockingIOError:  # a sibling took it
            continue
        with conn:
            conn.sendall(str(os.getpid()).encode())


if __name__ == "__main__":
    main()
