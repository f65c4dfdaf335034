"""Retention: deleting finished executions in bounded batches, each archived before it is deleted.

Runs inside one transaction opened by the store: the batch is chosen, handed to the archive (which
makes it durable), then deleted; the commit comes last. A crash after the archive and before the
commit leaves the batch in place to be archived again: a duplicate line, never a lost execution.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, delete, func, select, text

from coordinator.ports import ArchiveWriter
from coordinator.store import tables
from coordinator.store.codec import DELETABLE, archive_document

X = tables.executions_table
S = tables.steps_table
E = tables.events_table
P = tables.pending_table


RETENTION_LOCK = 0x5A6A_0001
"""The advisory lock key of retention (one purging replica at a time); any constant of ours."""
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


def _finished_before(finished_before_ms: int) -> Any:
    return (X.c.finished_at_ms < finished_before_ms) & X.c.status.in_(DELETABLE)


def count_finished(conn: Connection, finished_before_ms: int) -> int:
    """How many executions retention would delete now."""
    return int(conn.execute(select(func.count()).where(_finished_before(finished_before_ms))).scalar_one())


def purge_finished(conn: Connection, finished_before_ms: int, limit: int, archive: ArchiveWriter | None) -> int:
    """Archive, then delete, up to `limit` of the oldest deletable executions; how many.

    On PostgreSQL the transaction first takes an advisory lock: while one replica purges, another's
    attempt returns 0 at once instead of archiving the same executions twice.
    """
    if conn.dialect.name == "postgresql" and not conn.execute(_TRY_LOCK, {"key": RETENTION_LOCK}).scalar():
        return 0
    chosen = select(X).where(_finished_before(finished_before_ms)).order_by(X.c.finished_at_ms).limit(limit)
    executions = [dict(r._mapping) for r in conn.execute(chosen)]
    if not executions:
        return 0
    ids = [row["id"] for row in executions]
    if archive is not None:
        archive(_documents(conn, executions, ids))
    for table in (E, S, P):  # children first: no reliance on ON DELETE CASCADE being enabled
        conn.execute(delete(table).where(table.c.execution_id.in_(ids)))
    conn.execute(delete(X).where(X.c.id.in_(ids), X.c.status.in_(DELETABLE)))
    return len(ids)


def _documents(conn: Connection, executions: list[dict[str, Any]], ids: list[str]) -> list[dict[str, Any]]:
    steps: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(select(S).where(S.c.execution_id.in_(ids))):
        steps[row.execution_id].append(dict(row._mapping))
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in conn.execute(select(E).where(E.c.execution_id.in_(ids))):
        history[row.execution_id].append(dict(row._mapping))
    return [archive_document(row, steps[row["id"]], history[row["id"]]) for row in executions]
