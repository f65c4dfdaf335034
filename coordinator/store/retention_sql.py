"""Retention's SQL as text: the batch it chooses, with its archive lines, and its deletes.

Built in Python, a batch cost a dozen row fetches per execution (the execution, its steps, its
history) and their decoding, on a thread beside the event loop that serves every saga. Each row a
SQLite cursor returns hands the GIL back and waits to take it again, and beside a saturated loop
that wait is a switch interval (5 ms): retention deleted a few executions per second. Here the
database does the work, and Python fetches **one row per batch**:

- **The batch** (`batch_sql`): how many, each chosen id with its revision (a JSON object), and
  their archive lines joined by newlines, written by SQLite (in C, without the GIL) or by
  PostgreSQL (on the server). Python splits the text and appends it as it is.
- **The line** is the one `archive.archive_line` writes, byte for byte (a contract test compares
  them on both databases): `{"execution":{...},"steps":[...],"history":[...]}`, each object's
  plain columns in table order, then its JSON columns (`archive.JSON_COLUMNS`) as the JSON they
  hold; steps by index, history by sequence, compact. The JSON columns hold compact JSON already
  (`codec.dump_json`) and are spliced in as stored: nothing is parsed, where `json(col)` or
  `col::json` would parse every request and response body again. SQLite writes the plain columns
  with one `json_object` (a chain of `||` copies the text so far at each step: slower than the
  parse it saves) and stores booleans as 0/1, written `true`/`false` as Python writes them;
  PostgreSQL concatenates `to_json` of each. 1,000 executions of 7.7 kB lines, SQLite, alone:
  ~110 ms with `json_object(.., json(col))`, ~77 ms so; PostgreSQL the same either way.
- **The deletes** (SQLite, `DELETE_UNCHANGED`): four statements per batch, whatever its size,
  the chosen ids passed as one JSON parameter, each table reached by its primary key.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Table, TextClause, text

from coordinator.store import tables
from coordinator.store.archive import JSON_COLUMNS
from coordinator.store.codec import DELETABLE

X = tables.executions_table
S = tables.steps_table
E = tables.events_table

_DELETABLE_STATUSES = ", ".join(f"'{status}'" for status in sorted(DELETABLE))
DELETABLE_WHERE = f"x.finished_at_ms < :cutoff AND (x.status || '') IN ({_DELETABLE_STATUSES})"
"""What retention may delete, over the alias `x`. `status || ''` rather than `status`: with the status
a plain column, SQLite (which has no statistics here) searches `ix_executions_status_created` and
sorts every finished execution to find the oldest batch: a full scan per batch, seconds at a
million rows. The expression leaves it one plan: `ix_executions_finished` in order, stopping
after `:limit` rows."""


def _ordered(table: Table) -> list[Column[object]]:
    """The columns in the line's order: the plain ones, then the JSON ones (see `archive_line`)."""
    columns = list(table.columns)
    return [c for c in columns if c.name not in JSON_COLUMNS] + [c for c in columns if c.name in JSON_COLUMNS]


def _value(column: Column[object], alias: str) -> str:
    """One column as JSON text: a JSON column's text as it is, anything else by `to_json`
    (PostgreSQL; SQLite encodes its plain columns with `json_object`, see `_object`)."""
    ref = f'{alias}."{column.name}"'
    if column.name in JSON_COLUMNS:
        return f"coalesce({ref}, 'null')"
    return f"coalesce(to_json({ref})::text, 'null')"


def _object(dialect: str, table: Table, alias: str) -> str:
    """One row as a JSON object: nothing is parsed (see the module)."""
    columns = _ordered(table)
    plain = [c for c in columns if c.name not in JSON_COLUMNS]
    spliced = "".join(f""" || ',"{c.name}":' || {_value(c, alias)}""" for c in columns if c.name in JSON_COLUMNS)
    if dialect == "sqlite":
        # json_object builds the plain part in one buffer (a chain of || copies the text so far at
        # each step); its closing brace is its only trailing one: no plain value is an object.
        pairs = ", ".join(f"'{c.name}', {_plain_sqlite(c, alias)}" for c in plain)
        return f"rtrim(json_object({pairs}), '}}'){spliced} || '}}'"
    parts = [f"""'{"{" if i == 0 else ","}"{c.name}":' || {_value(c, alias)}""" for i, c in enumerate(plain)]
    return " || ".join(parts) + spliced + " || '}'"


def _plain_sqlite(column: Column[object], alias: str) -> str:
    ref = f'{alias}."{column.name}"'
    if isinstance(column.type, Boolean):  # stored as 0/1
        return f"json(CASE WHEN {ref} IS NULL THEN NULL WHEN {ref} THEN 'true' ELSE 'false' END)"
    return ref


def _array(dialect: str, table: Table, alias: str, order: str) -> str:
    """The rows of `table` of the execution `x`, by `order`, as a JSON array."""
    rows = f"FROM {table.name} AS {alias} WHERE {alias}.execution_id = x.id"
    if dialect == "sqlite":  # group_concat keeps the order of the subquery's rows
        ordered = f'SELECT {_object(dialect, table, alias)} AS o {rows} ORDER BY {alias}."{order}"'
        joined = f"SELECT group_concat(o, ',') FROM ({ordered})"
    else:
        joined = f"SELECT string_agg({_object(dialect, table, alias)}, ',' ORDER BY {alias}.\"{order}\") {rows}"
    return f"'[' || coalesce(({joined}), '') || ']'"


def _line(dialect: str) -> str:
    return (
        f"""'{{"execution":' || {_object(dialect, X, "x")} || ',"steps":' || {_array(dialect, S, "s", "idx")} """
        f"""|| ',"history":' || {_array(dialect, E, "e", "seq")} || '}}'"""
    )


def batch_sql(dialect: str, where: str, *, lines: bool) -> str:
    """A SELECT of one row for the batch of executions matching `where` (over the alias `x`, with
    bound parameters), the oldest finish first, at most `:limit` of them: `n` (how many),
    `chosen` (a JSON object of each one's id to its revision), and with `lines` their archive
    lines joined by newlines (a line holds none: JSON escapes them), else NULL.

    One row, not one per execution: on SQLite each row fetched takes the GIL back from the event
    loop, and on a saturated loop that waits out a switch interval (5 ms) per row."""
    line = _line(dialect) if lines else "NULL"
    batch = (
        f"SELECT x.id, x.revision, x.finished_at_ms, {line} AS line FROM executions AS x WHERE {where} "
        "ORDER BY x.finished_at_ms LIMIT :limit"
    )
    if dialect == "sqlite":  # group_concat keeps the order of the subquery's rows
        return (
            "SELECT count(*) AS n, json_group_object(b.id, b.revision) AS chosen, "
            f"group_concat(b.line, char(10)) AS lines FROM ({batch}) AS b"
        )
    return (
        "SELECT count(*) AS n, coalesce(json_object_agg(b.id, b.revision)::text, '{}') AS chosen, "
        f"string_agg(b.line, E'\\n' ORDER BY b.finished_at_ms, b.id) AS lines FROM ({batch}) AS b"
    )


_UNCHANGED = (
    # CROSS JOIN: SQLite keeps the order written, each chosen id looked up by the primary key;
    # with a plain JOIN it chose `ix_executions_status_created`, a scan of every finished one.
    "SELECT x.id FROM json_each(:chosen) AS j CROSS JOIN executions AS x ON x.id = j.key "
    f"WHERE x.revision = j.value AND (x.status || '') IN ({_DELETABLE_STATUSES})"
)
"""(SQLite) The chosen executions still at the revision archived: `chosen` is `Chosen.revisions` as JSON."""
DELETE_UNCHANGED: tuple[TextClause, ...] = tuple(
    text(f"DELETE FROM {table} WHERE {column} IN ({_UNCHANGED})")
    for table, column in (
        ("execution_events", "execution_id"),  # children first: no reliance on ON DELETE CASCADE
        ("execution_steps", "execution_id"),
        ("pending_actions", "execution_id"),
        ("executions", "id"),
    )
)
