"""Retention's archive lines, built by the database: one row, one text value per execution.

Built in Python, a line cost about a dozen row fetches (the execution, its steps, its history) and
their decoding, on a thread beside the event loop that serves every saga: under load the GIL made
retention delete a few executions per second. Here SQLite (`json_object`, in C, with the GIL
released) or PostgreSQL (`row_to_json`, on the server) writes the line, and Python fetches one
string per execution and appends it to the archive as it is.

The line is the one `archive.archive_line` writes, byte for byte for what the coordinator stores:
`{"execution":{...},"steps":[...],"history":[...]}`, each object's plain columns in table order,
then its JSON columns (`archive.JSON_COLUMNS`) as the JSON they hold, steps by index, history by
sequence, compact (no spaces). Both are tested against each other on every store.

The JSON columns hold compact JSON already (`codec.dump_json`); SQLite's `json()` and PostgreSQL's
`::json` take it as it is (PostgreSQL keeps the text verbatim, SQLite re-emits it minified, which
for compact text is the same text). Booleans are stored as 0/1 on SQLite and written as
`true`/`false`, as Python writes them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Table

from coordinator.store import tables
from coordinator.store.archive import JSON_COLUMNS

X = tables.executions_table
S = tables.steps_table
E = tables.events_table


def _ordered(table: Table) -> list[Column[object]]:
    """The columns in the line's order: the plain ones, then the JSON ones (see `archive_line`)."""
    columns = list(table.columns)
    return [c for c in columns if c.name not in JSON_COLUMNS] + [c for c in columns if c.name in JSON_COLUMNS]


def _sqlite_object(table: Table, alias: str) -> str:
    parts = []
    for column in _ordered(table):
        ref = f'{alias}."{column.name}"'
        if column.name in JSON_COLUMNS:
            value = f"json({ref})"
        elif isinstance(column.type, Boolean):
            value = f"json(CASE WHEN {ref} IS NULL THEN NULL WHEN {ref} THEN 'true' ELSE 'false' END)"
        else:
            value = ref
        parts.append(f"'{column.name}', {value}")
    return f"json_object({', '.join(parts)})"


def _sqlite_array(table: Table, alias: str, order: str) -> str:
    # group_concat over an ordered subquery keeps its order; the objects are joined as text, so
    # none is parsed again (json_group_array would re-parse each one).
    return (
        f"(SELECT '[' || coalesce(group_concat(o, ','), '') || ']' FROM "
        f"(SELECT {_sqlite_object(table, alias)} AS o FROM {table.name} AS {alias} "
        f'WHERE {alias}.execution_id = x.id ORDER BY {alias}."{order}"))'
    )


def _postgres_row(table: Table, alias: str) -> str:
    columns = []
    for column in _ordered(table):
        ref = f'{alias}."{column.name}"'
        columns.append(f'{ref}::json AS "{column.name}"' if column.name in JSON_COLUMNS else ref)
    return f"SELECT {', '.join(columns)}"


def _postgres_array(table: Table, alias: str, order: str) -> str:
    # row_to_json writes compact JSON (json_build_object and json_agg add spaces and newlines).
    return (
        f"'[' || coalesce((SELECT string_agg(row_to_json(r)::text, ',' ORDER BY r.\"{order}\") FROM "
        f"({_postgres_row(table, alias)} FROM {table.name} AS {alias} WHERE {alias}.execution_id = x.id) AS r), '') "
        "|| ']'"
    )


def lines_sql(dialect: str, where: str) -> str:
    """A SELECT of `id, revision, line` for the executions matching `where` (over alias `x`, may
    use bound parameters), the oldest finish first, at most `:limit` of them."""
    if dialect == "sqlite":
        line = (
            f"""'{{"execution":' || {_sqlite_object(X, "x")} || ',"steps":' || {_sqlite_array(S, "s", "idx")} """
            f"""|| ',"history":' || {_sqlite_array(E, "e", "seq")} || '}}'"""
        )
    else:
        line = (
            f"""'{{"execution":' || (SELECT row_to_json(r)::text FROM ({_postgres_row(X, "x")}) AS r) """
            f"""|| ',"steps":' || {_postgres_array(S, "s", "idx")} """
            f"""|| ',"history":' || {_postgres_array(E, "e", "seq")} || '}}'"""
        )
    return (
        f"SELECT x.id, x.revision, {line} AS line FROM executions AS x WHERE {where} "
        "ORDER BY x.finished_at_ms LIMIT :limit"
    )
