"""A transition on PostgreSQL as one statement: the compare-and-set, the changed step rows, the
new history entries and the pending actions, in one round trip.

Written separately, a transition is six round trips to the server (BEGIN, the compare-and-set,
the step, the history, the pending action, COMMIT), each a send, a wait and a wake-up of a store
thread: on PostgreSQL that was most of the coordinator's CPU per saga beyond SQLite's. Here every
write is a data-modifying CTE fed by the compare-and-set's `RETURNING`:

    WITH cas AS (UPDATE executions SET ... WHERE id = :id AND revision = :expected RETURNING id),
         s0  AS (UPDATE execution_steps SET ... FROM cas WHERE execution_id = cas.id AND idx = :s0_idx),
         e0  AS (INSERT INTO execution_events (...) SELECT ... FROM cas),
         p0  AS (INSERT INTO pending_actions (...) SELECT ... FROM cas ON CONFLICT ... DO UPDATE ...)
    SELECT count(*) FROM cas

When the compare-and-set matches no row (another writer won, the lease was taken, the execution
is gone), `cas` is empty and so is every write fed by it: nothing changes, and the caller finds
out why exactly as before. When it matches, it holds the execution's row lock first: the other
writes only happen for rows joined to its output. Nothing about durability changes: the
statement runs inside the store's transaction and commits with it.

The statement's text depends only on the shape of the transition (which execution columns, how
many steps, entries and pending rows), so the few shapes a saga produces are prepared once per
connection by psycopg.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from coordinator.store import statements as sql
from coordinator.store import tables
from coordinator.store.codec import Row

_S = tables.steps_table
_E = tables.events_table
_P = tables.pending_table
_STEP_KEYS = ("execution_id", "idx")
_PENDING_KEYS = ("execution_id", "step", "direction")


def _names(table: Any) -> list[str]:
    return [column.name for column in table.columns]


@functools.cache
def _text(cas: str, steps: int, events: int, deletes: int, upserts: int) -> str:
    """The statement for one shape (`cas` is the compare-and-set's UPDATE, without RETURNING)."""
    parts = [f"cas AS ({cas} RETURNING id)"]
    step_values = [n for n in _names(_S) if n not in _STEP_KEYS]
    for i in range(steps):
        assignments = ", ".join(f"{n} = :s{i}_{n}" for n in step_values)
        parts.append(
            f"s{i} AS (UPDATE {_S.name} SET {assignments} FROM cas "
            f"WHERE {_S.name}.execution_id = cas.id AND {_S.name}.idx = :s{i}_idx)"
        )
    event_columns = _names(_E)
    for i in range(events):
        values = ", ".join(f":e{i}_{n}" for n in event_columns)
        parts.append(f"e{i} AS (INSERT INTO {_E.name} ({', '.join(event_columns)}) SELECT {values} FROM cas)")
    for i in range(deletes):
        parts.append(
            f"d{i} AS (DELETE FROM {_P.name} WHERE execution_id IN (SELECT id FROM cas) "
            f"AND step = :d{i}_step AND direction = :d{i}_direction)"
        )
    pending_columns = _names(_P)
    updates = ", ".join(f"{n} = excluded.{n}" for n in pending_columns if n not in _PENDING_KEYS)
    for i in range(upserts):
        values = ", ".join(f":p{i}_{n}" for n in pending_columns)
        parts.append(
            f"p{i} AS (INSERT INTO {_P.name} ({', '.join(pending_columns)}) SELECT {values} FROM cas "
            f"ON CONFLICT ({', '.join(_PENDING_KEYS)}) DO UPDATE SET {updates})"
        )
    return sql.for_dialect("WITH " + ",\n".join(parts) + "\nSELECT count(*) FROM cas", "postgresql")


def commit(
    conn: Connection,
    cas: str,
    cas_params: dict[str, Any],
    steps: Sequence[Row],
    events: Sequence[Row],
    deletes: Sequence[tuple[int, str]],
    upserts: Sequence[Row],
) -> bool:
    """Run the transition; False when the compare-and-set matched nothing (and nothing was written).

    `steps` are full step rows to update, `events` full history rows to insert, `deletes` the
    (step, direction) of pending rows to remove and `upserts` full pending rows to write.
    """
    params = dict(cas_params)
    for i, row in enumerate(steps):
        params.update({f"s{i}_{name}": value for name, value in row.items()})
    for i, row in enumerate(events):
        params.update({f"e{i}_{name}": value for name, value in row.items()})
    for i, (step, direction) in enumerate(deletes):
        params[f"d{i}_step"] = step
        params[f"d{i}_direction"] = direction
    for i, row in enumerate(upserts):
        params.update({f"p{i}_{name}": value for name, value in row.items()})
    text = _text(cas, len(steps), len(events), len(deletes), len(upserts))
    return bool(conn.exec_driver_sql(text, params).scalar_one())
