"""Counts per status kept as rows: `execution_counts`, maintained by triggers on `executions`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

The console's executions list shows how many executions are in each status on every view. Counted
with a GROUP BY that is hundreds of milliseconds at a million rows; read from these rows it is a
few. Triggers keep them, in the same transaction as the insert, status change or delete of an
execution, so they are exact at every commit whatever path wrote (the engine's commits, retention,
`saga purge`, a restore in SQL) and the hot path makes no extra round trip on PostgreSQL.

PostgreSQL spreads each (saga, status) over 16 rows by a hash of the execution id: every start
and every finish of a saga would otherwise update one row, and concurrent transactions would queue
on its lock until each commits. A trigger that moves a count updates both rows in one statement,
ordered by status, so two transactions never take the same pair of rows in opposite orders.
SQLite has a single writer: one row (shard 0) per (saga, status).

On PostgreSQL the execution tables also get `autovacuum_vacuum_scale_factor = 0.02`: retention
deletes rows by the hundred thousand, and their room is reused only once a vacuum has run. With
the default 0.2, autovacuum waits for dead rows to pass a fifth of the table (1.8M history rows
of 9M at a million executions), and until then the tables grow by all the workload writes.

Backfilled from the stored executions in the same transaction as the triggers are created (the
migration holds the write lock on SQLite; on PostgreSQL replicas migrate under an advisory lock and
the table lock below keeps writers out), so no execution is counted twice or missed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


_VACUUMED = ("executions", "execution_steps", "execution_events", "pending_actions")
"""The tables retention deletes from (constants: the f-strings below build no SQL from input)."""

_SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER trg_execution_counts_insert AFTER INSERT ON executions
    BEGIN
        INSERT INTO execution_counts (saga_name, status, shard, n) VALUES (NEW.saga_name, NEW.status, 0, 1)
        ON CONFLICT (saga_name, status, shard) DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER trg_execution_counts_update AFTER UPDATE OF status, saga_name ON executions
    WHEN OLD.status IS NOT NEW.status OR OLD.saga_name IS NOT NEW.saga_name
    BEGIN
        UPDATE execution_counts SET n = n - 1
        WHERE saga_name = OLD.saga_name AND status = OLD.status AND shard = 0;
        INSERT INTO execution_counts (saga_name, status, shard, n) VALUES (NEW.saga_name, NEW.status, 0, 1)
        ON CONFLICT (saga_name, status, shard) DO UPDATE SET n = n + 1;
    END
    """,
    """
    CREATE TRIGGER trg_execution_counts_delete AFTER DELETE ON executions
    BEGIN
        UPDATE execution_counts SET n = n - 1
        WHERE saga_name = OLD.saga_name AND status = OLD.status AND shard = 0;
    END
    """,
)

_POSTGRES_FUNCTION = """
CREATE FUNCTION saga_execution_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        k := hashtext(NEW.id) & 15;
        INSERT INTO execution_counts AS c (saga_name, status, shard, n) VALUES (NEW.saga_name, NEW.status, k, 1)
        ON CONFLICT (saga_name, status, shard) DO UPDATE SET n = c.n + 1;
        RETURN NULL;
    END IF;
    k := hashtext(OLD.id) & 15;
    IF TG_OP = 'DELETE' THEN
        UPDATE execution_counts SET n = n - 1
        WHERE saga_name = OLD.saga_name AND status = OLD.status AND execution_counts.shard = k;
        RETURN NULL;
    END IF;
    -- An UPDATE of the status: both rows in one statement, in status order (no lock-order deadlock).
    INSERT INTO execution_counts AS c (saga_name, status, shard, n)
    SELECT v.saga_name, v.status, k, v.delta
    FROM (VALUES (OLD.saga_name, OLD.status, -1), (NEW.saga_name, NEW.status, 1)) AS v(saga_name, status, delta)
    ORDER BY v.saga_name, v.status
    ON CONFLICT (saga_name, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$
"""

_POSTGRES_TRIGGERS = (
    "CREATE TRIGGER trg_execution_counts_insert AFTER INSERT ON executions "
    "FOR EACH ROW EXECUTE FUNCTION saga_execution_counts()",
    "CREATE TRIGGER trg_execution_counts_update AFTER UPDATE OF status, saga_name ON executions "
    "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.saga_name IS DISTINCT FROM NEW.saga_name) "
    "EXECUTE FUNCTION saga_execution_counts()",
    "CREATE TRIGGER trg_execution_counts_delete AFTER DELETE ON executions "
    "FOR EACH ROW EXECUTE FUNCTION saga_execution_counts()",
)


def upgrade() -> None:
    """Create the table, fill it from the executions stored, then arm the triggers."""
    key = sa.String().with_variant(sa.String(collation="C"), "postgresql")
    op.create_table(
        "execution_counts",
        sa.Column("saga_name", key, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("saga_name", "status", "shard"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Writers wait until the triggers exist, so the backfill and the triggers see the same rows.
        op.execute("LOCK TABLE executions IN SHARE ROW EXCLUSIVE MODE")
        op.execute(
            "INSERT INTO execution_counts (saga_name, status, shard, n) "
            "SELECT saga_name, status, hashtext(id) & 15, count(*) FROM executions "
            "GROUP BY saga_name, status, hashtext(id) & 15"
        )
        op.execute(_POSTGRES_FUNCTION)
        for statement in _POSTGRES_TRIGGERS:
            op.execute(statement)
        for table in _VACUUMED:
            op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0.02)")
        return
    op.execute(
        "INSERT INTO execution_counts (saga_name, status, shard, n) "
        "SELECT saga_name, status, 0, count(*) FROM executions GROUP BY saga_name, status"
    )
    for statement in _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    """Drop the triggers, then the table."""
    for name in ("trg_execution_counts_insert", "trg_execution_counts_update", "trg_execution_counts_delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON executions")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS saga_execution_counts()")
        for table in _VACUUMED:
            op.execute(f"ALTER TABLE {table} RESET (autovacuum_vacuum_scale_factor)")
    op.drop_table("execution_counts")
