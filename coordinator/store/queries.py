"""The SQL store's statements: synchronous functions over one connection in one transaction.

`SqlStore` runs each of these on its worker threads, inside a transaction it opened; they never
commit themselves. SQLAlchemy Core on the SQLModel tables keeps the statements explicit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, Result, Select, case, func, insert, literal, select, tuple_, update

from coordinator.core.history import HistoryEvent
from coordinator.core.state import ExecutionState, ExecutionStatus
from coordinator.errors import ExecutionNotFound, Fenced, StaleRevision
from coordinator.ports import AttentionCount, AttentionReason, ExecutionQuery, ExecutionRecord, Lease, StoredEvent
from coordinator.store import codec, one_statement, tables
from coordinator.store import statements as sql
from coordinator.store.codec import Row
from coordinator.store.leases import db_now_ms

D = tables.definitions_table
X = tables.executions_table
S = tables.steps_table
E = tables.events_table
P = tables.pending_table
C = tables.counts_table


def _rows(result: Result[Any]) -> list[Row]:
    # The column names are read once: `dict(row._mapping)` has SQLAlchemy build a key view per row,
    # which was the larger part of reading a long history.
    names = tuple(result.keys())
    return [dict(zip(names, row, strict=True)) for row in result]


# -- definitions ---------------------------------------------------------------------------------


def insert_definition(conn: Connection, row: Row) -> None:
    """Insert a definition row; IntegrityError if (name, version) exists."""
    conn.execute(insert(D), row)


def server_key(conn: Connection, name: str) -> str | None:
    """The stored value of the shared key `name`, if any."""
    K = tables.server_keys_table
    value = conn.execute(select(K.c.value).where(K.c.name == name)).scalar()
    return None if value is None else str(value)


def insert_server_key(conn: Connection, row: Row) -> None:
    """Insert a shared key; IntegrityError if one of that name exists."""
    conn.execute(insert(tables.server_keys_table), row)


def definition(conn: Connection, name: str, version: int | None) -> Row | None:
    """One version of `name`, or its latest when `version` is None."""
    query = select(D).where(D.c.name == name)
    query = query.order_by(D.c.version.desc()) if version is None else query.where(D.c.version == version)
    row = conn.execute(query.limit(1)).first()
    return None if row is None else dict(row._mapping)


def latest_version(conn: Connection, name: str) -> int | None:
    """The highest registered version of `name`, if any."""
    found = sql.run(conn, sql.LATEST_VERSION, {"name": name}).scalar()
    return None if found is None else int(found)


def saga_exists(conn: Connection, name: str) -> bool:
    """Whether any version of `name` is registered."""
    return conn.execute(select(literal(1)).where(D.c.name == name).limit(1)).first() is not None


def latest_definitions(conn: Connection, after: str | None, limit: int) -> list[Row]:
    """The latest version of up to `limit` sagas named after `after`, by name."""
    latest = select(D.c.name, func.max(D.c.version).label("version")).group_by(D.c.name)
    if after is not None:
        latest = latest.where(D.c.name > after)
    page = latest.order_by(D.c.name).limit(limit).subquery()
    query = select(D).join(page, (D.c.name == page.c.name) & (D.c.version == page.c.version)).order_by(D.c.name)
    return _rows(conn.execute(query))


def versions(conn: Connection, name: str, before: int | None, limit: int) -> list[Row]:
    """Up to `limit` versions of `name` below `before`, newest first."""
    query = select(D).where(D.c.name == name)
    if before is not None:
        query = query.where(D.c.version < before)
    return _rows(conn.execute(query.order_by(D.c.version.desc()).limit(limit)))


# -- executions ----------------------------------------------------------------------------------


def insert_execution(
    conn: Connection, record: ExecutionRecord, history: Sequence[HistoryEvent], lease_ms: int = 0
) -> None:
    """Insert an execution with its steps, first history entries and pending action.

    With an owner on the record, it is leased to it for `lease_ms` by the database's clock.
    Raises IntegrityError if the id or the (saga, idempotency key) pair exists.
    """
    state = record.state
    row = codec.execution_row(record)
    if conn.dialect.name == "postgresql":
        # One statement (one round trip, and no transaction needed around it: see `SqlStore`).
        row["lease_until_ms"] = lease_ms if record.owner is not None else 0
        events = codec.event_rows(state.id, 1, history)
        one_statement.insert(conn, row, codec.step_rows(state), events, codec.pending_rows(state))
        return
    if record.owner is not None:
        row["lease_until_ms"] = db_now_ms(conn) + lease_ms
    sql.run(conn, sql.INSERT_EXECUTION, row)
    sql.run_insert(conn, S, codec.step_rows(state))
    sql.run_insert(conn, E, codec.event_rows(state.id, 1, history))
    sql.run_insert(conn, P, codec.pending_rows(state))


def execution_id_for_key(conn: Connection, saga: str, key: str) -> str | None:
    """The execution started for `saga` with idempotency key `key`, if any."""
    query = select(X.c.id).where(X.c.saga_name == saga, X.c.idempotency_key == key)
    found: str | None = conn.execute(query).scalar()
    return found


def execution_exists(conn: Connection, execution_id: str) -> bool:
    """Whether an execution has the id."""
    return conn.execute(select(literal(1)).where(X.c.id == execution_id)).first() is not None


_BRIEF_STEP = [column for column in S.c if column.name not in codec.BRIEF_STEP_OMITS]
"""Every step column but what the participant said (see `codec.BRIEF_STEP_OMITS`)."""


def _records(conn: Connection, executions: list[Row], *, brief: bool = False) -> list[ExecutionRecord]:
    """Assemble records for execution rows with two more queries, whatever their number."""
    if not executions:
        return []
    ids = [row["id"] for row in executions]
    steps: dict[str, list[Row]] = defaultdict(list)
    step_columns = _BRIEF_STEP if brief else [S]
    for row in _rows(conn.execute(select(*step_columns).where(S.c.execution_id.in_(ids)))):
        steps[row["execution_id"]].append(row)
    pending: dict[str, list[Row]] = defaultdict(list)
    for row in _rows(conn.execute(select(P).where(P.c.execution_id.in_(ids)))):
        pending[row["execution_id"]].append(row)
    return [codec.record_from_rows(row, steps[row["id"]], pending[row["id"]]) for row in executions]


def load_record(conn: Connection, execution_id: str) -> ExecutionRecord:
    """The execution as last committed. Raises ExecutionNotFound."""
    key = {"id": execution_id}
    execution = sql.run(conn, sql.SELECT_EXECUTION, key).first()
    if execution is None:
        raise ExecutionNotFound(execution_id)
    steps = _rows(sql.run(conn, sql.SELECT_STEPS, key))
    pending = _rows(sql.run(conn, sql.SELECT_PENDING, key))
    return codec.record_from_rows(dict(execution._mapping), steps, pending)


def commit(
    conn: Connection,
    state: ExecutionState,
    history: Sequence[HistoryEvent],
    expected_revision: int,
    lease: Lease | None = None,
    previous: ExecutionState | None = None,
    last_seq: int | None = None,
) -> tuple[ExecutionState, int]:
    """Compare-and-set the execution row (and its lease, fencing), then write what changed under its lock.

    With `previous` (the state at `expected_revision`, which the compare-and-set proves is what
    is stored), the changed step rows and the pending action are found in memory, not re-read;
    with `last_seq` (the history length at `expected_revision`), so is the next entry's number.
    Returns the committed state and its history length.
    """
    committed = replace(state, revision=expected_revision + 1)
    # Serialise everything before the first statement: bad data must not half-write anything.
    changes = codec.execution_changes(committed, committed.revision)
    new_steps = codec.step_rows(committed)
    pending = codec.pending_rows(committed)
    params = {**changes, "id": state.id, "expected_revision": expected_revision}
    if lease is not None:
        changes["recovery_attempts"] = params["recovery_attempts"] = 0  # progress: not a poison execution
        params.update(lease_owner=lease.owner, lease_epoch=lease.epoch)
    cas = sql.update_execution(tuple(changes), fenced=lease is not None)
    if previous is not None and last_seq is not None and conn.dialect.name == "postgresql":
        # The usual transition, everything known in memory: one statement, one round trip.
        old_pending = codec.pending_rows(previous)
        plan = _one_statement_plan(codec.step_rows(previous), new_steps, old_pending, pending)
        if plan is not None:
            events = codec.event_rows(state.id, last_seq + 1, history)
            if not one_statement.commit(conn, cas, params, plan[0], events, plan[1], plan[2]):
                _refuse(conn, state.id, expected_revision, lease)
            return committed, last_seq + len(history)
    if sql.is_autocommit(conn):
        # Each statement would commit on its own: half a transition could be stored.
        raise RuntimeError(f"the commit of execution {state.id!r} is not one statement: it needs a transaction")
    if sql.run(conn, cas, params).rowcount == 0:
        _refuse(conn, state.id, expected_revision, lease)
    # From here on we hold the execution's row lock (PostgreSQL) or the write lock (SQLite), so no
    # other commit of this execution can interleave: reading max(seq) and the steps is safe.
    if previous is None:
        old_steps = _rows(sql.run(conn, sql.SELECT_STEPS, {"id": state.id}))
    else:
        old_steps = codec.step_rows(previous)
    _write_changed_steps(conn, state.id, old_steps, new_steps)
    if last_seq is None:
        last_seq = int(sql.run(conn, sql.LAST_SEQ, {"id": state.id}).scalar_one())
    if history:
        sql.run_insert(conn, E, codec.event_rows(state.id, last_seq + 1, history))
    _write_pending(conn, state.id, None if previous is None else codec.pending_rows(previous), pending)
    return committed, last_seq + len(history)


def _refuse(conn: Connection, execution_id: str, expected_revision: int, lease: Lease | None) -> None:
    """Raise why the compare-and-set of a commit matched no row."""
    current = sql.run(conn, sql.SELECT_REVISION, {"id": execution_id}).first()
    if current is None:
        raise ExecutionNotFound(execution_id)
    if lease is not None and current.revision == expected_revision:
        raise Fenced(
            f"execution {execution_id!r} is owned by {current.owner} at epoch {current.epoch}, "
            f"not {lease.owner} at epoch {lease.epoch}"
        )
    raise StaleRevision(f"execution {execution_id!r} changed since revision {expected_revision}")


def fits_one_statement(state: ExecutionState, previous: ExecutionState | None, last_seq: int | None) -> bool:
    """Whether `commit` writes this transition as one statement on PostgreSQL (so it may run
    outside a transaction of its own: one statement is atomic by itself)."""
    return previous is not None and last_seq is not None and len(previous.steps) == len(state.steps)


def _one_statement_plan(
    old_steps: list[Row], new_steps: list[Row], old_pending: list[Row], new_pending: list[Row]
) -> tuple[list[Row], list[tuple[int, str]], list[Row]] | None:
    """The step rows to update, pending rows to delete and to write, as `_write_changed_steps` and
    `_write_pending` would; None for a shape the one statement does not cover (steps added or removed)."""
    if len(old_steps) != len(new_steps):
        return None
    steps = [new for old, new in zip(old_steps, new_steps, strict=True) if old != new]
    if old_pending == new_pending:
        return steps, [], []
    keep = {(row["step"], row["direction"]) for row in new_pending}
    deletes = [(row["step"], row["direction"]) for row in old_pending if (row["step"], row["direction"]) not in keep]
    stored = {(row["step"], row["direction"]): row for row in old_pending}
    upserts = [row for row in new_pending if stored.get((row["step"], row["direction"])) != row]
    return steps, deletes, upserts


def _write_pending(conn: Connection, execution_id: str, old: list[Row] | None, new: list[Row]) -> None:
    """Make the execution's pending action rows `new`, one per (step, direction).

    With `old` (what is stored) only the rows that changed are written: a lone step's transition
    touches one row, as before groups existed. Without it, the rows are replaced whole.
    """
    if old is None:
        sql.run(conn, sql.DELETE_PENDING, {"id": execution_id})
        sql.run_insert(conn, P, new)
        return
    if old == new:
        return
    keep = {(row["step"], row["direction"]) for row in new}
    for row in old:
        if (row["step"], row["direction"]) not in keep:
            where = {"id": execution_id, "step": row["step"], "direction": row["direction"]}
            sql.run(conn, sql.DELETE_PENDING_OF, where)
    stored = {(row["step"], row["direction"]): row for row in old}
    for row in new:
        if stored.get((row["step"], row["direction"])) != row:
            sql.run(conn, sql.UPSERT_PENDING, row)


def _write_changed_steps(conn: Connection, execution_id: str, old_steps: list[Row], new_steps: list[Row]) -> None:
    """Update the step rows that differ; a commit usually changes one step, not all of them."""
    stored = {r["idx"]: r for r in old_steps}
    for row in new_steps:
        old = stored.get(row["idx"])
        if old is None:
            sql.run(conn, sql.INSERT_STEP, row)
        elif old != row:
            sql.run(conn, sql.UPDATE_STEP, row)
    if len(stored) > len(new_steps):
        sql.run(conn, sql.DELETE_STEPS_FROM, {"id": execution_id, "first": len(new_steps)})


def list_records(
    conn: Connection,
    query: ExecutionQuery,
    after: tuple[int, str] | None,
    limit: int,
    *,
    brief: bool = False,
) -> list[ExecutionRecord]:
    """Up to `limit` executions matching `query` after the keyset position `after`, newest first
    (`brief`: without the steps' response and last exchange)."""
    return _records(conn, _rows(conn.execute(list_statement(query, after, limit))), brief=brief)


def list_statement(query: ExecutionQuery, after: tuple[int, str] | None, limit: int) -> Select[Any]:
    """The statement of `list_records`' execution rows (its plans are tested)."""
    select_ = select(X)
    if query.saga is not None:
        select_ = select_.where(X.c.saga_name == query.saga)
    if query.status is not None:
        select_ = select_.where(X.c.status == ExecutionStatus(query.status).value)
    if query.key is not None:
        select_ = select_.where(X.c.business_key == query.key)
    if query.id_prefix:
        # A range on the primary key (ids compare bytewise: the C collation on PostgreSQL).
        select_ = select_.where(X.c.id >= query.id_prefix, X.c.id < query.id_prefix + "\U0010ffff")
    if query.created_after_ms is not None:
        select_ = select_.where(X.c.created_at_ms >= query.created_after_ms)
    if query.created_before_ms is not None:
        select_ = select_.where(X.c.created_at_ms < query.created_before_ms)
    if query.attention_at_ms is not None:
        select_ = select_.where(X.c.attention_at_ms <= query.attention_at_ms)
    if after is not None:
        select_ = select_.where(tuple_(X.c.created_at_ms, X.c.id) < tuple_(*after))
    newest: ColumnElement[Any] = X.c.created_at_ms
    if query.attention_at_ms is not None and query.key is None:
        # The few that need attention are found on their own index and sorted: with the plain
        # column, the planners walk the newest-first index of all executions and filter each row
        # (measured: 179 ms p99 on SQLite with 300 of 1M). `+ 0` makes the order an expression, so
        # no index can serve it and the attention index serves the WHERE instead.
        newest = X.c.created_at_ms + 0
    return select_.order_by(newest.desc(), X.c.id.desc()).limit(limit)


def attention_counts(conn: Connection, now_ms: int) -> list[AttentionCount]:
    """Executions needing attention at `now_ms` by saga and reason: one range scan of the attention index."""
    return [
        AttentionCount(saga=row.saga_name, reason=AttentionReason(row.reason), count=int(row.n))
        for row in conn.execute(attention_count_statement(now_ms))
    ]


def attention_count_statement(now_ms: int) -> Select[Any]:
    """The statement of `attention_counts` (its plan is tested)."""
    waits = select(P.c.execution_id).where(P.c.execution_id == X.c.id, P.c.kind == codec.WAIT).exists()
    reason = case(
        (X.c.status == ExecutionStatus.FAILED.value, literal(AttentionReason.FAILED.value)),
        (X.c.quarantined.is_not(None), literal(AttentionReason.QUARANTINED.value)),
        (waits, literal(AttentionReason.WAITING.value)),
        else_=literal(AttentionReason.STALLED.value),
    ).label("reason")
    # Grouped by an expression of the name, not the column: by the column, SQLite walked the
    # (saga, created) index of every execution to group in order and filtered each row, 6-7 s with
    # 1M stored, on the one thread every read of the coordinator waits for (every 15 s: the
    # seconds-long stalls of the read latencies). As with `list_records`' `+ 0`, the attention
    # index then serves the WHERE: the few hundred due rows are read and grouped.
    saga = X.c.saga_name.concat("").label("saga_name")
    query = (
        select(saga, reason, func.count().label("n"))
        .where(X.c.attention_at_ms <= now_ms)
        .group_by(saga, reason)
        .order_by(saga, reason)
    )
    return query


def count_waiting(conn: Connection) -> dict[str, int]:
    """Steps waiting for a callback, by saga: the `wait` pending actions (few, whatever the history)."""
    query = (
        select(X.c.saga_name, func.count().label("n"))
        .select_from(P.join(X, P.c.execution_id == X.c.id))
        .where(P.c.kind == codec.WAIT)
        .group_by(X.c.saga_name)
    )
    return {row.saga_name: int(row.n) for row in conn.execute(query)}


def note_attention(conn: Connection, now_ms: int, limit: int) -> list[ExecutionRecord]:
    """Mark up to `limit` executions needing attention and not yet noted; return them."""
    due = (
        select(X.c.id)
        .where(X.c.attention_at_ms <= now_ms, X.c.attention_noted.is_(False))
        .order_by(X.c.attention_at_ms)
        .limit(limit)
    )
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    # The guard on `attention_noted` makes the mark a claim: of two replicas, one updates each row.
    noted = conn.execute(
        update(X).where(X.c.id.in_(ids), X.c.attention_noted.is_(False)).values(attention_noted=True).returning(X.c.id)
    )
    mine = set(noted.scalars())
    rows = _rows(conn.execute(select(X).where(X.c.id.in_(mine)))) if mine else []
    return _records(conn, rows)


def count_by_status(conn: Connection, saga: str | None) -> dict[ExecutionStatus, int]:
    """Executions per status, of one saga when given: the sum of the few `execution_counts` rows
    that triggers keep exact in every transaction that writes an execution (see tables.py)."""
    query = select(C.c.status, func.sum(C.c.n)).group_by(C.c.status)
    if saga is not None:
        query = query.where(C.c.saga_name == saga)
    counts = {ExecutionStatus(status): int(total) for status, total in conn.execute(query)}
    return {status: total for status, total in counts.items() if total > 0}


_OUTLINE = [E.c[name] for name in codec.OUTLINE_COLUMNS]
"""Every history column but what was said (a long history's bulk, and most of its decoding), in
the order `codec.event_outline` unpacks them."""
_SEQS_PER_QUERY = 500
"""Positions per `IN (...)` of `events_at`: well under every database's limit of parameters."""


def events(
    conn: Connection, execution_id: str, after_seq: int, limit: int, *, exchanges: bool = True
) -> list[StoredEvent]:
    """Up to `limit` history entries with seq > `after_seq` (without request and response unless
    `exchanges`). Raises ExecutionNotFound."""
    query = select(*([E] if exchanges else _OUTLINE))
    query = query.where(E.c.execution_id == execution_id, E.c.seq > after_seq).order_by(E.c.seq).limit(limit)
    if exchanges:
        found = [codec.event_from_row(r) for r in _rows(conn.execute(query))]
    else:
        found = [codec.event_outline(r) for r in conn.execute(query).all()]  # fetched at once: a third quicker
    if not found and not execution_exists(conn, execution_id):
        raise ExecutionNotFound(execution_id)
    return found


def events_at(conn: Connection, execution_id: str, seqs: Sequence[int]) -> list[StoredEvent]:
    """The history entries at positions `seqs`, in full, oldest first. Raises ExecutionNotFound."""
    wanted = sorted(set(seqs))
    found: list[StoredEvent] = []
    for start in range(0, len(wanted), _SEQS_PER_QUERY):
        chunk = wanted[start : start + _SEQS_PER_QUERY]
        query = select(E).where(E.c.execution_id == execution_id, E.c.seq.in_(chunk)).order_by(E.c.seq)
        found += [codec.event_from_row(r) for r in _rows(conn.execute(query))]
    if not found and not execution_exists(conn, execution_id):
        raise ExecutionNotFound(execution_id)
    return found
