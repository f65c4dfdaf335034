"""Database URLs, engines and the classification of database failures.

One place decides how we talk to SQLite and PostgreSQL, so the store and the migrations open
connections the same way.
"""

from __future__ import annotations

import select
import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

APPLICATION_NAME = "saga-coordinator"
WRITE = "saga_write"
"""Execution option marking a connection whose transaction will write (SQLite: BEGIN IMMEDIATE)."""

_BUSY_TIMEOUT_MS = 5000
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}",
    # FULL makes an acknowledged commit survive a power loss or OS crash, not just a process
    # crash (reliability plan, section 0 item 11).
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)
# SQLite reports a missing table as an OperationalError; that is a schema problem, not an outage.
_SQLITE_SCHEMA_ERRORS = ("no such table", "no such column")


def normalise_url(url: str) -> URL:
    """Parse a database URL, choosing our drivers: psycopg 3 for PostgreSQL, pysqlite for SQLite.

    Raises:
        ValueError: not a SQLite file or PostgreSQL URL.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r}") from exc
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("postgresql+psycopg", "sqlite", "sqlite+pysqlite"):
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database does not persist; use memory:// instead")
        return parsed
    raise ValueError(f"unsupported database URL scheme {parsed.drivername!r} (use sqlite:/// or postgresql://)")


IDLE_IN_TRANSACTION_MS = 5_000
"""PostgreSQL ends a session that sits idle inside a transaction this long (see `make_engine`)."""
LOCK_TIMEOUT_MS = 10_000
"""A statement waiting longer than this for a row lock fails (and is retried) instead of queueing."""


def is_sqlite(url: URL) -> bool:
    """Whether the URL names a SQLite database."""
    return url.get_backend_name() == "sqlite"


STATEMENT_TIMEOUT_MS = 30_000
"""PostgreSQL cancels a statement running longer than this: a backstop for a statement whose client
went away (the client's own deadline, `store.deadlines`, has long given up on it by then)."""
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT = 10, 5, 3
"""TCP keepalives on both ends: a peer that vanished (a partition, a crashed host) is noticed in
about 25 s even on a connection with nothing to send, and its session, locks and slot are freed."""


def make_engine(url: URL, *, pool_size: int, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS) -> Engine:
    """A synchronous engine; SQLite pings pooled connections at checkout, PostgreSQL does not.

    On PostgreSQL the store pings inside each call instead (`SqlStore._transaction`), where the
    call's deadline can cut a ping that hangs; SQLAlchemy's `pool_pre_ping` runs before the store
    learns which connection it got, beyond the reach of any deadline. Migrations pass
    `statement_timeout_ms=0` (none): building an index on a big table may take minutes.
    """
    if is_sqlite(url):
        # One worker thread uses the connections, but `close()` disposes of them from another.
        engine = create_engine(url, pool_pre_ping=True, connect_args={"check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    server_options = (
        # A coordinator paused (SIGSTOP, a long GC, a frozen VM) or cut off inside a transaction
        # would hold its row locks, and SKIP LOCKED claims would skip those executions for as long
        # as it is away. Our transactions last milliseconds: the server ends a session idle in one.
        f"idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        f"lock_timeout={LOCK_TIMEOUT_MS}",
        f"statement_timeout={statement_timeout_ms}",
        f"tcp_keepalives_idle={KEEPALIVE_IDLE_S}",
        f"tcp_keepalives_interval={KEEPALIVE_INTERVAL_S}",
        f"tcp_keepalives_count={KEEPALIVE_COUNT}",
    )
    connect_args: dict[str, Any] = {
        "application_name": APPLICATION_NAME,
        "options": " ".join(f"-c {option}" for option in server_options),
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE_S,
        "keepalives_interval": KEEPALIVE_INTERVAL_S,
        "keepalives_count": KEEPALIVE_COUNT,
    }
    if "connect_timeout" not in url.query:
        # Without it an unreachable host hangs until the OS gives up; /readyz must answer sooner.
        # psycopg enforces it over the whole handshake, so a server that accepts and then says
        # nothing (a half-open path) fails within it too.
        connect_args["connect_timeout"] = 5
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, connect_args=connect_args)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite, which would BEGIN only before DML and so
        # run the reads of one load in separate snapshots; `_on_begin` issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            _use_wal(cursor)
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes the write lock up front, so busy_timeout applies; a deferred transaction
        # that upgrades from read to write can fail at once with SQLITE_BUSY instead.
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch to WAL, which lets readers run beside the writer.

    While another connection converts a new database, SQLite refuses the switch with "database
    is locked" at once, without consulting busy_timeout: wait for it here instead.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def is_unavailable(exc: SQLAlchemyError) -> bool:
    """Whether a failure means the database cannot be reached or used right now (worth a retry)."""
    if isinstance(exc, PoolTimeout | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        message = str(exc.orig).lower()
        return not any(marker in message for marker in _SQLITE_SCHEMA_ERRORS)
    return isinstance(exc, InterfaceError)


_DISK_FULL_SQLSTATE = "53100"


def is_disk_full(exc: SQLAlchemyError) -> bool:
    """Whether a failure is the database's disk being full (SQLITE_FULL; PostgreSQL's disk_full)."""
    cause = exc.orig if isinstance(exc, DBAPIError) else None
    if isinstance(cause, sqlite3.Error):
        return (getattr(cause, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL
    return getattr(cause, "sqlstate", None) == _DISK_FULL_SQLSTATE


def describe(exc: SQLAlchemyError) -> str:
    """The driver's first line about a failure, without SQLAlchemy's statement and parameters."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else exc.__class__.__name__


def has_died(dbapi_connection: Any) -> bool:
    """Whether a pooled PostgreSQL connection, idle between our transactions, is known to be dead.

    It costs no round trip: an idle session has nothing to say, so a socket with something to
    read means the server ended it (a restart or failover sends its FATAL message and closes; a
    killed backend's socket reads EOF). Asking the server (`SELECT 1`) cost a round trip, a
    thread wake-up and the driver's work on every transaction, for the same answer. A connection
    that dies after this look fails its first statement, as one could after a ping.
    """
    if dbapi_connection.closed:
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True
