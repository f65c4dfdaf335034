"""Retention: deleting finished executions in bounded batches, each archived before it is deleted.

A batch is chosen (the oldest finish times first, along `ix_executions_finished`), written as
archive lines by the database itself and fetched as one row (`retention_sql`), and handed to the
archive, which makes it durable; only then are its rows deleted and the delete committed. A crash
after the archive and before the commit leaves the batch in place to be archived again: a
duplicate line, never a lost execution.

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

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select, text

from coordinator.ports import ArchiveWriter
from coordinator.store import retention_sql, tables
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


def count_finished(conn: Connection, finished_before_ms: int) -> int:
    """How many executions retention would delete now."""
    where = (X.c.finished_at_ms < finished_before_ms) & X.c.status.in_(DELETABLE)
    return int(conn.execute(select(func.count()).where(where)).scalar_one())


def _choose(conn: Connection, finished_before_ms: int, limit: int, archive: ArchiveWriter | None) -> Chosen:
    """Choose the oldest deletable executions and hand their lines to `archive`: one row fetched."""
    where = retention_sql.DELETABLE_WHERE
    query = text(retention_sql.batch_sql(conn.dialect.name, where, lines=archive is not None))
    row = conn.execute(query, {"cutoff": finished_before_ms, "limit": limit}).one()
    if row.n and archive is not None:
        archive(row.lines.split("\n"))
    return Chosen({str(k): int(v) for k, v in json.loads(row.chosen).items()})


def purge_finished(conn: Connection, finished_before_ms: int, limit: int, archive: ArchiveWriter | None) -> int:
    """Archive, then delete, up to `limit` of the oldest deletable executions, in this transaction.

    On PostgreSQL the transaction first takes an advisory lock: while one replica purges, another's
    attempt returns 0 at once instead of archiving the same executions twice.
    """
    if conn.dialect.name == "postgresql" and not conn.execute(_TRY_LOCK, {"key": RETENTION_LOCK}).scalar():
        return 0
    ids = list(_choose(conn, finished_before_ms, limit, archive).revisions)
    if not ids:
        return 0
    _delete_children(conn, ids)
    conn.execute(delete(X).where(X.c.id.in_(ids), X.c.status.in_(DELETABLE)))
    return len(ids)


def choose_and_archive(conn: Connection, finished_before_ms: int, limit: int, archive: ArchiveWriter | None) -> Chosen:
    """Read (in a read transaction) up to `limit` of the oldest deletable executions and archive
    them; what `delete_chosen` may then delete."""
    return _choose(conn, finished_before_ms, limit, archive)


def delete_chosen(conn: Connection, chosen: Chosen) -> int:
    """(SQLite) Delete, in a write transaction, the chosen executions still at the revision
    archived, with their steps, history and pending actions; how many.

    A handful of statements whatever the batch's size, each one step of SQLite (and one hand-back
    of the GIL): the ids go in as one JSON parameter, not as rows or a thousand bound values."""
    if not chosen.revisions:
        return 0
    parameters = {"chosen": json.dumps(chosen.revisions)}
    deleted = 0
    for statement in retention_sql.DELETE_UNCHANGED:
        deleted = conn.execute(statement, parameters).rowcount
    return int(deleted)


def _delete_children(conn: Connection, ids: Sequence[str]) -> None:
    for table in (E, S, P):  # children first: no reliance on ON DELETE CASCADE being enabled
        conn.execute(delete(table).where(table.c.execution_id.in_(ids)))

