"""The SQL schema, as SQLModel tables. The Alembic migrations must build exactly this.

All times are epoch milliseconds (BIGINT): one clock unit everywhere, no time zones in the database.
JSON values are stored as text so SQLite and PostgreSQL store the same bytes.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, MetaData, String, Table, Text, UniqueConstraint, text
from sqlalchemy.types import TypeEngine
from sqlmodel import Field, SQLModel

from coordinator.store.codec import UNFINISHED_STATUSES

# The partial index for recovery covers only the few rows that are not terminal, so it stays
# small however long the history grows; the query must repeat this predicate to use it.
UNFINISHED_PREDICATE: str = "status IN ({})".format(", ".join(f"'{s}'" for s in UNFINISHED_STATUSES))

# Keys that lists are ordered by compare bytewise on PostgreSQL, whatever the database's locale, so
# every backend (and the in-memory store) pages them in the same order as Python's `str` does.
KEY: TypeEngine[str] = String().with_variant(String(collation="C"), "postgresql")

metadata: MetaData = SQLModel.metadata
"""The metadata every table here is declared on (Alembic's autogenerate target)."""


class SagaDefinitionRow(SQLModel, table=True):
    """One registered version of a saga; immutable once written."""

    __tablename__ = "saga_definitions"

    name: str = Field(primary_key=True, sa_type=KEY)
    version: int = Field(primary_key=True)
    document: str = Field(sa_type=Text)
    digest: str
    created_at_ms: int = Field(sa_type=BigInteger)


class ExecutionRow(SQLModel, table=True):
    """One execution: what was asked for, and where it stands (`revision` is the CAS token)."""

    __tablename__ = "executions"
    __table_args__ = (
        UniqueConstraint("saga_name", "idempotency_key", name="uq_executions_idempotency"),
        Index("ix_executions_created", "created_at_ms", "id"),
        Index("ix_executions_saga_created", "saga_name", "created_at_ms", "id"),
        Index("ix_executions_status_created", "status", "created_at_ms", "id"),
        Index("ix_executions_key", "business_key", "created_at_ms", "id"),
        Index("ix_executions_attention", "attention_at_ms"),
        Index("ix_executions_finished", "finished_at_ms"),
        Index(
            "ix_executions_unfinished",
            "created_at_ms",
            "id",
            sqlite_where=text(UNFINISHED_PREDICATE),
            postgresql_where=text(UNFINISHED_PREDICATE),
        ),
    )

    id: str = Field(primary_key=True, sa_type=KEY)
    saga_name: str
    saga_version: int
    status: str
    input: str = Field(sa_type=Text)
    idempotency_key: str | None = None
    request_digest: str | None = None
    trace_context: str = Field(sa_type=Text)
    deadline_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    cancel_reason: str | None = Field(default=None, sa_type=Text)
    error_step: str | None = None
    error_message: str | None = Field(default=None, sa_type=Text)
    error_direction: str | None = None
    revision: int
    created_at_ms: int = Field(sa_type=BigInteger)
    updated_at_ms: int = Field(sa_type=BigInteger)
    owner: str | None = None
    lease_until_ms: int = Field(default=0, sa_type=BigInteger)
    epoch: int = 0
    recovery_attempts: int = 0
    quarantined: str | None = Field(default=None, sa_type=Text)
    business_key: str | None = Field(default=None, sa_type=KEY)
    finished_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    attention_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    attention_noted: bool = False


class ExecutionStepRow(SQLModel, table=True):
    """One step of one execution; `idx` is the step's position in the saga."""

    __tablename__ = "execution_steps"

    execution_id: str = Field(primary_key=True, foreign_key="executions.id", ondelete="CASCADE", sa_type=KEY)
    idx: int = Field(primary_key=True)
    name: str
    status: str
    attempts: int
    compensation_attempts: int
    compensation_budget_base: int
    attempt_budget_base: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    effect_possible: bool
    last_error: str | None = Field(default=None, sa_type=Text)
    last_status_code: int | None = None
    started_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    finished_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    deadline_at_ms: int | None = Field(default=None, sa_type=BigInteger)
    response: str | None = Field(default=None, sa_type=Text)
    last_exchange: str | None = Field(default=None, sa_type=Text)
    resolution: str | None = Field(default=None, sa_type=Text)
    callbacks: str | None = Field(default=None, sa_type=Text)


class ServerKeyRow(SQLModel, table=True):
    """A key every replica shares (the callback tokens' HMAC key): made by the first to start."""

    __tablename__ = "server_keys"

    name: str = Field(primary_key=True)
    value: str = Field(sa_type=Text)
    created_at_ms: int = Field(sa_type=BigInteger)


class ExecutionEventRow(SQLModel, table=True):
    """One history entry; append-only, `seq` is 1-based and gapless per execution."""

    __tablename__ = "execution_events"

    execution_id: str = Field(primary_key=True, foreign_key="executions.id", ondelete="CASCADE", sa_type=KEY)
    seq: int = Field(primary_key=True)
    type: str
    at_ms: int = Field(sa_type=BigInteger)
    step: str | None = None
    direction: str | None = None
    attempt: int | None = None
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    delay_ms: int | None = Field(default=None, sa_type=BigInteger)
    duration_ms: int | None = Field(default=None, sa_type=BigInteger)
    outcome: str | None = None
    request: str | None = Field(default=None, sa_type=Text)
    response: str | None = Field(default=None, sa_type=Text)
    note: str | None = Field(default=None, sa_type=Text)
    actor: str | None = None


class PendingActionRow(SQLModel, table=True):
    """An outstanding call or wake-up of one step in one direction (the outbox), kept in step
    with the state on every commit. A lone step has at most one; a parallel group's members
    have one each, so one execution may have several.

    `kind` is `call` (an attempt recorded as started; `due_at_ms` is when it times out),
    `wakeup` (a scheduled retry; `due_at_ms` is when it fires), or `wait` (an asynchronous attempt
    awaiting its callback; `created_at_ms` is when it began waiting, `created_at_ms + timeout_ms`
    when it times out, `due_at_ms` its next wake-up: the heartbeat deadline or the timeout).
    """

    __tablename__ = "pending_actions"
    __table_args__ = (Index("ix_pending_actions_due", "due_at_ms"),)

    execution_id: str = Field(primary_key=True, foreign_key="executions.id", ondelete="CASCADE", sa_type=KEY)
    kind: str
    step: int = Field(primary_key=True)
    direction: str = Field(primary_key=True)
    attempt: int
    timeout_ms: int | None = Field(default=None, sa_type=BigInteger)
    due_at_ms: int = Field(sa_type=BigInteger)
    created_at_ms: int = Field(sa_type=BigInteger)


class ExecutionCountRow(SQLModel, table=True):
    """How many executions of a saga are in a status, kept by triggers on `executions` (r0007).

    The console's list shows counts per status on every view; a GROUP BY over a million rows costs
    hundreds of milliseconds, these rows a few. The triggers add and subtract in the transaction
    that inserts, changes the status of, or deletes an execution, whichever code path does it, so
    the sum is exact at every commit. On PostgreSQL a saga's count in a status is spread over
    `COUNT_SHARDS` rows (by a hash of the execution id), so concurrent commits rarely wait on the
    same row's lock; SQLite has one writer and uses shard 0 only. A count is the sum of its shards.
    """

    __tablename__ = "execution_counts"

    saga_name: str = Field(primary_key=True, sa_type=KEY)
    status: str = Field(primary_key=True)
    shard: int = Field(primary_key=True)
    n: int = Field(sa_type=BigInteger)


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]  # set by SQLModel's metaclass for table=True
    assert isinstance(table, Table)
    return table


definitions_table: Table = _table(SagaDefinitionRow)
executions_table: Table = _table(ExecutionRow)
steps_table: Table = _table(ExecutionStepRow)
events_table: Table = _table(ExecutionEventRow)
pending_table: Table = _table(PendingActionRow)
server_keys_table: Table = _table(ServerKeyRow)
counts_table: Table = _table(ExecutionCountRow)
