"""Throw-away databases for one benchmark run, and the bulk seeding of the API-latency part.

SQLite: a file in a fresh temporary folder. PostgreSQL: `CREATE DATABASE bench_<random>` on the
server named by `--pg-admin-url` (127.0.0.1 only), dropped at the end of the run.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

TABLES = ("executions", "execution_steps", "execution_events", "pending_actions")
"""The execution tables, parents first (the seeding copies rows of each)."""


@dataclass
class Database:
    """One database the coordinator runs on during a benchmark run."""

    kind: str
    """`sqlite` or `postgres`."""
    url: str
    """The URL given to `saga serve --database-url`."""
    _cleanup: list[Any] = field(default_factory=list, repr=False)

    def drop(self) -> None:
        """Remove the database (idempotent)."""
        while self._cleanup:
            self._cleanup.pop()()


def create_sqlite() -> Database:
    """A SQLite file in a new temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="saga-bench-"))
    database = Database("sqlite", f"sqlite:///{folder / 'saga.db'}")
    database._cleanup.append(lambda: shutil.rmtree(folder, ignore_errors=True))
    return database


def _pg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def create_postgres(admin_url: str = DEFAULT_PG_ADMIN_URL) -> Database:
    """A fresh PostgreSQL database on the admin URL's server."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with _pg_connect(admin_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    database = Database("postgres", f"{base}/{name}")

    def drop() -> None:
        with _pg_connect(admin_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    database._cleanup.append(drop)
    return database


def create(kind: str, pg_admin_url: str = DEFAULT_PG_ADMIN_URL) -> Database:
    """`create_sqlite()` or `create_postgres()`."""
    return create_sqlite() if kind == "sqlite" else create_postgres(pg_admin_url)


def server_version(kind: str, pg_admin_url: str = DEFAULT_PG_ADMIN_URL) -> str:
    """The database engine's version, for the machine facts."""
    if kind == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    try:
        with _pg_connect(pg_admin_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return f"PostgreSQL {row[0]}" if row else "PostgreSQL"
    except Exception as error:
        return f"PostgreSQL unavailable: {error}"


# -- seeding: many stored executions, cloned from a few real ones ------------------------------


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def multiply_executions(
    url: str, target: int, *, attention_copies: int | None = None, chunk_executions: int = 50_000
) -> dict[str, Any]:
    """Clone the executions stored at `url` (made by real sagas) until there are `target` of them.

    Each copy gets the id `<seed id>.<n>`, the business key `<seed key>.<n>`, no idempotency key,
    and times shifted back by n minutes (among them `finished_at_ms` and `attention_at_ms`, so
    retention and the attention list see a long history); steps, events and pending actions are
    copied with it. A seed that needs attention (`attention_at_ms` set, e.g. `failed`) is copied only
    `attention_copies` times when given, so that a few hundred among a million need an operator, as
    in a real database, rather than one in every thousand. The column lists come from the database
    itself, so this follows the coordinator's schema. Returns what it did. The coordinator must not
    be running.
    """
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(_sqlalchemy_url(url))
    started = time.monotonic()
    try:
        columns = {table: [c["name"] for c in inspect(engine).get_columns(table)] for table in TABLES}
        with engine.begin() as conn:
            seeds = int(conn.execute(text("SELECT count(*) FROM executions")).scalar_one())
            if seeds == 0:
                raise RuntimeError("no executions to clone: run some sagas first")
            copies = max(0, -(-(target - seeds) // seeds))
            conn.execute(text("DROP TABLE IF EXISTS bench_seed"))
            conn.execute(text("DROP TABLE IF EXISTS bench_n"))
            # `last_n`: how many copies of this seed to make.
            conn.execute(text("CREATE TABLE bench_seed (id VARCHAR PRIMARY KEY, last_n INTEGER NOT NULL)"))
            conn.execute(
                text(
                    "INSERT INTO bench_seed (id, last_n) SELECT id, CASE WHEN attention_at_ms IS NOT NULL "
                    "THEN :attention ELSE :copies END FROM executions"
                ),
                {"copies": copies, "attention": copies if attention_copies is None else min(copies, attention_copies)},
            )
            conn.execute(text("CREATE TABLE bench_n (n INTEGER PRIMARY KEY)"))
            if copies:
                conn.execute(text("INSERT INTO bench_n (n) VALUES (:n)"), [{"n": n} for n in range(1, copies + 1)])
        per_chunk = max(1, chunk_executions // seeds)
        for first in range(1, copies + 1, per_chunk):
            last = min(copies, first + per_chunk - 1)
            with engine.begin() as conn:
                for table in TABLES:
                    conn.execute(text(_clone_statement(table, columns[table])), {"first": first, "last": last})
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE bench_seed"))
            conn.execute(text("DROP TABLE bench_n"))
            stored = int(conn.execute(text("SELECT count(*) FROM executions")).scalar_one())
            events = int(conn.execute(text("SELECT count(*) FROM execution_events")).scalar_one())
            by_status = {
                str(status): int(count)
                for status, count in conn.execute(text("SELECT status, count(*) FROM executions GROUP BY status"))
            }
            attention = int(
                conn.execute(text("SELECT count(*) FROM executions WHERE attention_at_ms IS NOT NULL")).scalar_one()
            )
            keyed = int(conn.execute(text("SELECT count(DISTINCT business_key) FROM executions")).scalar_one())
        if url.startswith("postgresql"):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()
    return {
        "seeds": seeds,
        "copies": copies,
        "executions": stored,
        "events": events,
        "by_status": by_status,
        "needing_attention": attention,
        "distinct_keys": keyed,
        "seconds": time.monotonic() - started,
    }


def _clone_statement(table: str, columns: list[str]) -> str:
    key = "id" if table == "executions" else "execution_id"
    expressions = []
    for column in columns:
        if column == key or column == "business_key":
            # NULL stays NULL (an execution of a saga without `key:`); a key gets `.<n>` like the id.
            expressions.append(f"x.{column} || '.' || CAST(c.n AS VARCHAR)")
        elif column == "idempotency_key":
            expressions.append("NULL")
        elif column.endswith("_ms") and column not in ("timeout_ms", "delay_ms", "duration_ms"):
            expressions.append(f"x.{column} - c.n * 60000")
        else:
            expressions.append(f"x.{column}")
    names = ", ".join(columns)
    return (
        f"INSERT INTO {table} ({names}) SELECT {', '.join(expressions)} "
        f"FROM {table} x JOIN bench_seed s ON s.id = x.{key} "
        "CROSS JOIN bench_n c WHERE c.n BETWEEN :first AND :last AND c.n <= s.last_n"
    )
