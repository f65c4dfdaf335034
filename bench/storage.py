"""How much room a benchmark database takes, read from the side while the coordinator runs.

SQLite: the file and its write-ahead log in bytes, and `PRAGMA page_count` / `freelist_count`:
deleted rows free whole pages onto the freelist, new rows take pages from it before the file grows,
and only `VACUUM` gives them back to the file system. PostgreSQL: `pg_total_relation_size` of each
execution table (heap, indexes and TOAST) with its live and dead tuples and how often autovacuum
ran: a delete leaves dead tuples whose room is reused only after (auto)vacuum marks it free.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bench.databases import TABLES, Database


def sqlite_path(db: Database) -> Path:
    """The file of a SQLite benchmark database."""
    return Path(db.url.removeprefix("sqlite:///"))


def footprint(db: Database) -> dict[str, Any]:
    """The database's size now: `bytes` (the figure compared) and what explains it."""
    return _sqlite(db) if db.kind == "sqlite" else _postgres(db)


def execution_count(db: Database) -> int:
    """How many executions are stored (a full count: call it between measurements, not during)."""
    if db.kind == "sqlite":
        with sqlite3.connect(sqlite_path(db), timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM executions").fetchone()[0])
    import psycopg

    with psycopg.connect(db.url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM executions").fetchone()
        return int(row[0]) if row else 0


def _sqlite(db: Database) -> dict[str, Any]:
    path = sqlite_path(db)
    wal = path.with_name(path.name + "-wal")
    conn = sqlite3.connect(path, timeout=30)
    try:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        page_count = int(conn.execute("PRAGMA page_count").fetchone()[0])
        freelist = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    finally:
        conn.close()
    return {
        "bytes": path.stat().st_size,
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "page_size": page_size,
        "page_count": page_count,
        "freelist_count": freelist,
        "free_bytes": freelist * page_size,
    }


_PG_TABLES = """
SELECT relname, pg_total_relation_size(relid), n_live_tup, n_dead_tup, autovacuum_count,
       last_autovacuum IS NOT NULL
FROM pg_stat_user_tables WHERE relname = ANY(%s)
"""


def _postgres(db: Database) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(db.url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(_PG_TABLES, (list(TABLES),)).fetchall()
    tables = {
        str(name): {"bytes": int(size), "live": int(live), "dead": int(dead), "autovacuums": int(runs)}
        for name, size, live, dead, runs, _ in rows
    }
    return {
        "bytes": sum(t["bytes"] for t in tables.values()),
        "dead_tuples": sum(t["dead"] for t in tables.values()),
        "autovacuums": sum(t["autovacuums"] for t in tables.values()),
        "tables": tables,
    }
