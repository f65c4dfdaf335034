"""A transition on PostgreSQL as one statement: the compare-and-set, the changed step rows, the
new history entries and the pending actions, in one round trip.

Written separately, a transition is six round trips to the server (BEGIN, the compare-and-set,
the step, the history, the pending action, COMMIT), each a send, a wait and a wake-up of a store
thread: on PostgreSQL that was most of the coordinator's CPU per saga beyond SQLite's. Here every
write is a data-modifying CTE fed by the compare-and-set's `RETURNING`:

    WITH cas AS (UPDATE executions SET ... WHERE id = :id AND revision = :expected RETURNING id),
         s   AS (UPDATE execution_steps ... FROM cas, json_populate_recordset(..., :steps) r WHERE ...),
         e   AS (INSERT INTO execution_events (...) SELECT ... FROM cas, json_populate_recordset(..., :events) r),
         d   AS (DELETE FROM pending_actions ... USING cas, json_populate_recordset(..., :deletes) r ...),
         p   AS (INSERT INTO pending_actions (...) SELECT ... FROM cas, ... ON CONFLICT ... DO UPDATE ...)
    SELECT count(*) FROM cas

When the compare-and-set matches no row (another writer won, the lease was taken, the execution
is gone), `cas` is empty and so is every write fed by it: nothing changes, and the caller finds
out why exactly as before. When it matches, it holds the execution's row lock first: the other
writes only happen for rows joined to its output. Nothing about durability changes: the
statement commits with the batch's transaction, or, alone, as its own transaction (no BEGIN or
COMMIT round trip), and the server answers only once it committed.

The statement's text depends only on which execution columns change, and its rows travel as
JSON arrays (one parameter per table): psycopg caches the conversion of a statement only up to
50 parameters and 4 KiB, and a version with one parameter per column (~60) was re-parsed on
every call, costing what the saved round trips gained.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from coordinator.store import statements as sql
from coordinator.store import tables
from coordinator.store.codec import Row

_X = tables.executions_table
_S = tables.steps_table
_E = tables.events_table
_P = tables.pending_table
_STEP_KEYS = ("execution_id", "idx")
_PENDING_KEYS = ("execution_id", "step", "direction")


def _names(table: Any) -> list[str]:
    return [column.name for column in table.columns]


def _select(table: Any, source: str) -> str:
    """`SELECT r.<every column> FROM cas, json_populate_recordset(NULL::<table>, <source>) r`."""
    columns = ", ".join(f"r.{n}" for n in _names(table))
    return f"SELECT {columns} FROM cas, json_populate_recordset(NULL::{table.name}, {source}::json) r"


@functools.cache
def _text(cas: str) -> str:
    """The statement for a compare-and-set (`cas`: the UPDATE of the execution, without RETURNING).

    Rows travel as one JSON array per table (`json_populate_recordset` gives them the table's
    column types), so the statement has few parameters and one text per set of execution
    columns: psycopg converts it once and the server prepares it once per connection.
    """
    step_values = [n for n in _names(_S) if n not in _STEP_KEYS]
    pending_columns = _names(_P)
    updates = ", ".join(f"{n} = excluded.{n}" for n in pending_columns if n not in _PENDING_KEYS)
    parts = [
        f"cas AS ({cas} RETURNING id)",
        f"s AS (UPDATE {_S.name} t SET {', '.join(f'{n} = r.{n}' for n in step_values)} "
        f"FROM cas, json_populate_recordset(NULL::{_S.name}, :steps::json) r "
        "WHERE t.execution_id = cas.id AND t.idx = r.idx)",
        f"e AS (INSERT INTO {_E.name} ({', '.join(_names(_E))}) {_select(_E, ':events')})",
        f"d AS (DELETE FROM {_P.name} t USING cas, json_populate_recordset(NULL::{_P.name}, :deletes::json) r "
        "WHERE t.execution_id = cas.id AND t.step = r.step AND t.direction = r.direction)",
        f"p AS (INSERT INTO {_P.name} ({', '.join(pending_columns)}) {_select(_P, ':upserts')} "
        f"ON CONFLICT ({', '.join(_PENDING_KEYS)}) DO UPDATE SET {updates})",
    ]
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
    params = {
        **cas_params,
        "steps": json.dumps(list(steps)),
        "events": json.dumps(list(events)),
        "deletes": json.dumps([{"step": step, "direction": direction} for step, direction in deletes]),
        "upserts": json.dumps(list(upserts)),
    }
    return bool(conn.exec_driver_sql(_text(cas), params).scalar_one())


@functools.cache
def _insert_text() -> str:
    """The statement of `insert`: the execution row from one JSON object, its other rows from
    one JSON array per table, each insert fed by the execution's (so its foreign keys hold)."""
    owned = "r.lease_until_ms + (extract(epoch from clock_timestamp()) * 1000)::bigint"
    execution_values = ", ".join(
        f"CASE WHEN r.owner IS NULL THEN r.lease_until_ms ELSE {owned} END" if n == "lease_until_ms" else f"r.{n}"
        for n in _names(_X)
    )
    parts = [
        f"x AS (INSERT INTO {_X.name} ({', '.join(_names(_X))}) SELECT {execution_values} "
        f"FROM json_populate_record(NULL::{_X.name}, :execution::json) r RETURNING id)",
        *(
            f"{alias} AS (INSERT INTO {table.name} ({', '.join(_names(table))}) "
            f"{_select(table, source).replace('FROM cas,', 'FROM x,')})"
            for alias, table, source in (("s", _S, ":steps"), ("e", _E, ":events"), ("p", _P, ":pending"))
        ),
    ]
    return sql.for_dialect("WITH " + ",\n".join(parts) + "\nSELECT count(*) FROM x", "postgresql")


def insert(
    conn: Connection, execution: Row, steps: Sequence[Row], events: Sequence[Row], pending: Sequence[Row]
) -> None:
    """A new execution as one statement: its row, steps, first history entries and pending actions.

    With an owner on `execution`, its `lease_until_ms` is the lease's length: the statement adds
    the database's clock, as `leases` reckons every lease. Raises IntegrityError on a duplicate.
    """
    params = {
        "execution": json.dumps(execution),
        "steps": json.dumps(list(steps)),
        "events": json.dumps(list(events)),
        "pending": json.dumps(list(pending)),
    }
    conn.exec_driver_sql(_insert_text(), params).scalar_one()
