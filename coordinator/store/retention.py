"""Retention: deleting finished executions in bounded batches, each archived before it is deleted.

A batch is chosen (the oldest finish times first, along `ix_executions_finished`), read whole and
handed to the archive, which makes it durable; only then are its rows deleted and the delete
committed. A crash after the archive and before the commit leaves the batch in place to be archived
again: a duplicate line, never a lost execution.

Two ways to run it, by database:

- **PostgreSQL** (`purge_finished`): all in one transaction that first takes an advisory lock, so
  two replicas never archive the same batch. Reads do not block the sagas' writes there, and the
  deletes come last, so the rows the delete triggers lock (`execution_counts`) are held only for
  the deletes and the commit.
- **SQLite** (`choose_and_archive`, then `delete_chosen`): one writer serves every saga, and a
  batch's reads, JSON and fsync inside the write transaction held it for most of the batch's time.
  The batch is read and archived in a read snapshot beside the writer (WAL lets it read while the
  writer commits); the write transaction only deletes. It deletes an execution only if its
  `revision` is still the one archived (a finished execution does not change, but nothing relies on
  it): what is deleted is exactly what was archived. SQLite allows one process per file, so no
  other replica can choose the same batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, literal, select, text

from coordinator.ports import ArchiveWriter
from coordinator.store import archive_query, tables
from coordinator.store.codec import DELETABLE

X = tables.executions_table
S = tables.steps_table
E = tables.events_table
P = tables.pending_table

RETENTION_LOCK = 0x5A6A_0001
"""The advisory lock key of retention (one purging replica at a time); any constant of ours."""
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


@dataclass(frozen=True, slots=True)
class Chosen:
    """A batch read and archived, to be deleted: each execution's id and the revision archived."""

    revisions: dict[str, int]


def _deletable(finished_before_ms: int) -> Any:
    # `status || ''` rather than `status`: with the status a plain column, SQLite (which has no
    # statistics here) searches `ix_executions_status_created` and sorts every finished execution
    # to find the oldest 50: a full scan per batch, seconds at a million rows. The expression
    # leaves it one plan: `ix_executions_finished` in order, stopping after `limit` rows.
    return (X.c.finished_at_ms < finished_before_ms) & (X.c.status + literal("")).in_(DELETABLE)


def count_finished(conn: Connection, finished_before_ms: int) -> int:
    """How many executions retention would delete now."""
    where = (X.c.finished_at_ms < finished_before_ms) & X.c.status.in_(DELETABLE)
    return int(conn.execute(select(func.count()).where(where)).scalar_one())


_DELETABLE_SQL = "x.finished_at_ms < :cutoff AND (x.status || '') IN ({})".format(
    ", ".join(f"'{status}'" for status in sorted(DELETABLE))
)
"""`_deletable` over the alias `x`, as text for `archive_query` (same plan: see `_deletable`)."""


def _choose(conn: Connection, finished_before_ms: int, limit: int, *, lines: bool) -> list[Any]:
    """The oldest deletable executions: (id, revision, archive line) with `lines`, else (id, revision)."""
    if lines:
        query = text(archive_query.lines_sql(conn.dialect.name, _DELETABLE_SQL))
        return list(conn.execute(query, {"cutoff": finished_before_ms, "limit": limit}))
    chosen = select(X.c.id, X.c.revision).where(_deletable(finished_before_ms))
    return list(conn.execute(chosen.order_by(X.c.finished_at_ms).limit(limit)))


def purge_finished(conn: Connection, finished_before_ms: int, limit: int, archive: ArchiveWriter | None) -> int:
    """Archive, then delete, up to `limit` of the oldest deletable executions, in this transaction.

    On PostgreSQL the transaction first takes an advisory lock: while one replica purges, another's
    attempt returns 0 at once instead of archiving the same executions twice.
    """
    if conn.dialect.name == "postgresql" and not conn.execute(_TRY_LOCK, {"key": RETENTION_LOCK}).scalar():
        return 0
    executions = _choose(conn, finished_before_ms, limit, lines=archive is not None)
    if not executions:
        return 0
    ids = [row.id for row in executions]
    if archive is not None:
        archive([row.line for row in executions])
    _delete_children(conn, ids)
    conn.execute(delete(X).where(X.c.id.in_(ids), X.c.status.in_(DELETABLE)))
    return len(ids)


def choose_and_archive(conn: Connection, finished_before_ms: int, limit: int, archive: ArchiveWriter | None) -> Chosen:
    """Read (in a read transaction) up to `limit` of the oldest deletable executions and archive
    them; what `delete_chosen` may then delete."""
    executions = _choose(conn, finished_before_ms, limit, lines=archive is not None)
    if executions and archive is not None:
        archive([row.line for row in executions])
    return Chosen({row.id: int(row.revision) for row in executions})


def delete_chosen(conn: Connection, chosen: Chosen) -> int:
    """Delete (in a write transaction) the chosen executions still at the revision archived, with
    their steps, history and pending actions; how many."""
    if not chosen.revisions:
        return 0
    now = select(X.c.id, X.c.revision).where(X.c.id.in_(list(chosen.revisions)), X.c.status.in_(DELETABLE))
    unchanged = [row.id for row in conn.execute(now) if chosen.revisions[row.id] == row.revision]
    if not unchanged:
        return 0
    _delete_children(conn, unchanged)
    conn.execute(delete(X).where(X.c.id.in_(unchanged)))
    return len(unchanged)


def _delete_children(conn: Connection, ids: Sequence[str]) -> None:
    for table in (E, S, P):  # children first: no reliance on ON DELETE CASCADE being enabled
        conn.execute(delete(table).where(table.c.execution_id.in_(ids)))

