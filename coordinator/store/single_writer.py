"""One coordinator process per SQLite file, enforced with an OS file lock.

SQLite has one writer and no way to fence a second process's decisions; two coordinators on one
file would both drive the same executions. PostgreSQL is the database for several replicas.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from coordinator.errors import DatabaseInUse


class SingleWriterLock:
    """An exclusive, non-blocking `flock` on `<database>.lock`, held until `release()` or exit."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DatabaseInUse naming the file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseInUse(
                f"another coordinator process is using the SQLite database {self.path.with_suffix('')} "
                "(SQLite allows one process; use PostgreSQL to run several replicas)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the OS also does when the process dies, even by SIGKILL)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
