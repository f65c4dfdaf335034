"""The hot path's SQL, written once as text and sent straight to the driver.

Building a SQLAlchemy Core statement costs more CPU than SQLite takes to run it (coercions, cache
keys, compilation lookups: measured at ~40 % of the coordinator's CPU per saga). The statements a
saga runs on every transition are therefore rendered here, once, from the table definitions (so
they cannot drift from the schema), and run with `Connection.exec_driver_sql`, which keeps
SQLAlchemy's connection pool, transactions and exception wrapping but skips statement building.
Everything else (lists, claims, definitions) stays in Core, where clarity is worth more.

The text uses `:name` parameters (SQLite's named style); `for_dialect` turns them into psycopg's
`%(name)s` for PostgreSQL.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, CursorResult, Table

from coordinator.store import tables

_PARAM = re.compile(r"(?<![:\w]):(\w+)")


@functools.cache
def for_dialect(sql: str, dialect: str) -> str:
    """`sql` with its `:name` parameters in the driver's style."""
    if dialect == "postgresql":
        return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
    return sql


def run(conn: Connection, sql: str, params: dict[str, Any]) -> CursorResult[Any]:
    """Run one of this module's statements."""
    return conn.exec_driver_sql(for_dialect(sql, conn.dialect.name), params)


def is_autocommit(conn: Connection) -> bool:
    """Whether `conn` runs each statement as a transaction of its own (see `SqlStore._transaction`)."""
    return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


def _columns(table: Table) -> list[str]:
    return [column.name for column in table.columns]


def insert(table: Table) -> str:
    """INSERT of every column of `table`, one parameter per column."""
    names = _columns(table)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"


@functools.cache
def insert_rows(table_name: str, count: int) -> str:
    """One INSERT of `count` rows into `table_name`: parameters `:<column>_<row>`.

    One statement, not an executemany: psycopg pipelines an executemany, which costs more CPU
    than the few rows a transition writes.
    """
    names = _columns(tables.metadata.tables[table_name])
    rows = ", ".join("(" + ", ".join(f":{n}_{i}" for n in names) + ")" for i in range(count))
    return f"INSERT INTO {table_name} ({', '.join(names)}) VALUES {rows}"


@functools.cache
def insert_json_rows(table_name: str) -> str:
    """PostgreSQL: one INSERT of any number of rows, given as one JSON array (`:rows`).

    `json_populate_recordset` gives each value its column's type. One parameter whatever the
    row count: psycopg caches a statement's conversion only up to 50 parameters, and the three
    step rows of a new execution (~60 parameters) were re-parsed on every start, a tenth of the
    coordinator's CPU on PostgreSQL.
    """
    names = ", ".join(_columns(tables.metadata.tables[table_name]))
    return (
        f"INSERT INTO {table_name} ({names}) SELECT {names} "
        f"FROM json_populate_recordset(NULL::{table_name}, %(rows)s::json)"
    )


def run_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (each a full row of `table`) with one statement; nothing when there are none."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(insert_json_rows(table.name), {"rows": json.dumps(list(rows))})
        return
    params = {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}
    run(conn, insert_rows(table.name, len(rows)), params)


def _select_where(table: Table, where: str) -> str:
    return f"SELECT {', '.join(_columns(table))} FROM {table.name} WHERE {where}"


@functools.cache
def update_execution(columns: tuple[str, ...], fenced: bool) -> str:
    """The compare-and-set of an execution: set `columns` where the revision (and lease) still match."""
    where = "id = :id AND revision = :expected_revision"
    if fenced:
        where += " AND owner = :lease_owner AND epoch = :lease_epoch"
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    return f"UPDATE {tables.executions_table.name} SET {assignments} WHERE {where}"


_S = tables.steps_table
_STEP_VALUES = [n for n in _columns(_S) if n not in ("execution_id", "idx")]

INSERT_EXECUTION = insert(tables.executions_table)
INSERT_STEP = insert(_S)

SELECT_EXECUTION = _select_where(tables.executions_table, "id = :id")
SELECT_STEPS = _select_where(_S, "execution_id = :id")
SELECT_PENDING = _select_where(tables.pending_table, "execution_id = :id")
SELECT_REVISION = f"SELECT revision, owner, epoch FROM {tables.executions_table.name} WHERE id = :id"

UPDATE_STEP = (
    f"UPDATE {_S.name} SET {', '.join(f'{n} = :{n}' for n in _STEP_VALUES)} "
    "WHERE execution_id = :execution_id AND idx = :idx"
)
DELETE_STEPS_FROM = f"DELETE FROM {_S.name} WHERE execution_id = :id AND idx >= :first"
_P = tables.pending_table
UPSERT_PENDING = f"{insert(_P)} ON CONFLICT (execution_id, step, direction) DO UPDATE SET " + ", ".join(
    f"{n} = excluded.{n}" for n in _columns(_P) if n not in ("execution_id", "step", "direction")
)
DELETE_PENDING = f"DELETE FROM {tables.pending_table.name} WHERE execution_id = :id"
DELETE_PENDING_OF = f"{DELETE_PENDING} AND step = :step AND direction = :direction"

LATEST_VERSION = f"SELECT MAX(version) FROM {tables.definitions_table.name} WHERE name = :name"

_E = tables.events_table
LAST_SEQ = f"SELECT COALESCE(MAX(seq), 0) FROM {_E.name} WHERE execution_id = :id"
