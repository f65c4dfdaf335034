"""A deadline on every database call, enforced on the connection itself.

A connection whose packets vanish (a partition, a frozen middlebox, a half-open socket) leaves the
driver waiting for an answer that never comes: TCP keepalives do not help when something on the
path still acknowledges the bytes, and the server's `statement_timeout` never hears of a query that
did not reach it. So the store gives each call a deadline. When it passes, the waiting coroutine
gets `StoreUnavailable` at once, and the worker thread is freed too: the socket of the connection
it is blocked on is shut down, so the driver's read returns, the call fails, and the pool drops the
connection. Without that second half, each hung call would keep a pool thread forever, and once
they all hung every later call (the readiness probe included) would queue behind them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
from typing import Any


class CallGuard:
    """One call's hold on the DBAPI connection it runs on, so that its deadline can cut it.

    The worker thread `attach`es the connection once checked out and `detach`es it before handing
    it back; the event loop calls `expire` when the deadline passed. The lock makes sure a socket
    is only ever shut down while the call that timed out is still using it (never a connection
    already back in the pool, or a file descriptor reused since).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Any = None
        self._expired = False

    def attach(self, dbapi_connection: Any) -> bool:
        """The call now runs on `dbapi_connection`; False if its deadline already passed (do not start)."""
        with self._lock:
            if self._expired:
                return False
            self._connection = dbapi_connection
            return True

    def detach(self) -> None:
        """The call is done with its connection."""
        with self._lock:
            self._connection = None

    @property
    def expired(self) -> bool:
        """Whether the deadline passed (the caller was told the call failed)."""
        return self._expired

    def expire(self) -> bool:
        """The deadline passed: cut the call's connection, if it is on one. Whether one was cut."""
        with self._lock:
            self._expired = True
            connection, self._connection = self._connection, None
            if connection is None:
                return False
            cut(connection)
            return True


def cut(dbapi_connection: Any) -> None:
    """Make a call blocked on `dbapi_connection` fail now, from another thread."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.interrupt()
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        # A duplicate of the descriptor: shutdown() acts on the socket both share, and closing the
        # duplicate leaves the driver's own descriptor for the driver to close.
        duplicate = socket.socket(fileno=os.dup(dbapi_connection.fileno()))
        try:
            duplicate.shutdown(socket.SHUT_RDWR)
        finally:
            duplicate.close()
