"""The initial schema: definitions, executions, their steps, history and pending actions.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written by hand to match `coordinator/store/tables.py`; a test compares the two on SQLite and
PostgreSQL. Values are spelled out here rather than imported, so later code changes cannot
rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Bytewise ordering of list keys on PostgreSQL, whatever the locale (see tables.KEY).
KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
UNFINISHED = sa.text("status IN ('running', 'compensating')")


def _execution_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["execution_id"], ["executions.id"], ondelete="CASCADE")


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "saga_definitions",
        sa.Column("name", KEY, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_table(
        "executions",
        sa.Column("id", KEY, nullable=False),
        sa.Column("saga_name", sa.String(), nullable=False),
        sa.Column("saga_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=True),
        sa.Column("request_digest", sa.String(), nullable=True),
        sa.Column("trace_context", sa.Text(), nullable=False),
        sa.Column("deadline_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("error_step", sa.String(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("saga_name", "idempotency_key", name="uq_executions_idempotency"),
    )
    op.create_index("ix_executions_created", "executions", ["created_at_ms", "id"])
    op.create_index("ix_executions_saga_created", "executions", ["saga_name", "created_at_ms", "id"])
    op.create_index("ix_executions_status_created", "executions", ["status", "created_at_ms", "id"])
    op.create_index(
        "ix_executions_unfinished",
        "executions",
        ["created_at_ms", "id"],
        sqlite_where=UNFINISHED,
        postgresql_where=UNFINISHED,
    )
    op.create_table(
        "execution_steps",
        sa.Column("execution_id", KEY, nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("compensation_attempts", sa.Integer(), nullable=False),
        sa.Column("compensation_budget_base", sa.Integer(), nullable=False),
        sa.Column("effect_possible", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("finished_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("deadline_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("execution_id", "idx"),
        _execution_fk(),
    )
    op.create_table(
        "execution_events",
        sa.Column("execution_id", KEY, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.String(), nullable=True),
        sa.Column("direction", sa.String(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("delay_ms", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("execution_id", "seq"),
        _execution_fk(),
    )
    op.create_table(
        "pending_actions",
        sa.Column("execution_id", KEY, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("timeout_ms", sa.BigInteger(), nullable=True),
        sa.Column("due_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("execution_id"),
        _execution_fk(),
    )
    op.create_index("ix_pending_actions_due", "pending_actions", ["due_at_ms"])


def downgrade() -> None:
    """Drop everything `upgrade` created, children first."""
    op.drop_table("pending_actions")
    op.drop_table("execution_events")
    op.drop_table("execution_steps")
    op.drop_index("ix_executions_unfinished", table_name="executions")
    op.drop_index("ix_executions_status_created", table_name="executions")
    op.drop_index("ix_executions_saga_created", table_name="executions")
    op.drop_index("ix_executions_created", table_name="executions")
    op.drop_table("executions")
    op.drop_table("saga_definitions")
