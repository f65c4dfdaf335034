"""Parallel groups and the pivot: one pending action per (execution, step, direction).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Several calls of one execution may now be in flight at once (one per group member), each with
its own row in `pending_actions`, so the table's key grows from the execution to (execution,
step, direction). Every row already stored keeps its meaning: an execution had at most one
pending action, which is the one pending action of its step. The steps gain the attempts made
before an operator retried them forward (0: none), the executions the direction of their error.

`pending_actions` is a child table (nothing references it), so on SQLite it is rebuilt with the
new key, rows copied, and swapped in; `executions` is never rebuilt (a copy-and-rename of it
would cascade deletes to every child row).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_KEY = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_COPY = (
    "INSERT INTO pending_actions_rekeyed "
    "(execution_id, kind, step, direction, attempt, timeout_ms, due_at_ms, created_at_ms) "
    "SELECT execution_id, kind, step, direction, attempt, timeout_ms, due_at_ms, created_at_ms FROM pending_actions"
)


def upgrade() -> None:
    """Add the two columns natively, then re-key `pending_actions`."""
    op.add_column("executions", sa.Column("error_direction", sa.String(), nullable=True))
    op.add_column(
        "execution_steps",
        sa.Column("attempt_budget_base", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    _rekey_pending(("execution_id", "step", "direction"))


def downgrade() -> None:
    """Back to one pending action per execution (fails if an execution has several), drop the columns."""
    _rekey_pending(("execution_id",))
    op.execute("ALTER TABLE execution_steps DROP COLUMN attempt_budget_base")
    op.execute("ALTER TABLE executions DROP COLUMN error_direction")


def _rekey_pending(key: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pending_actions_pkey", "pending_actions", type_="primary")
        op.create_primary_key("pending_actions_pkey", "pending_actions", list(key))
        return
    # SQLite cannot change a primary key in place: build the table anew and swap it in.
    op.create_table(
        "pending_actions_rekeyed",
        sa.Column("execution_id", _KEY, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("timeout_ms", sa.BigInteger(), nullable=True),
        sa.Column("due_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*key),
        sa.ForeignKeyConstraint(["execution_id"], ["executions.id"], ondelete="CASCADE"),
    )
    op.execute(_COPY)
    op.drop_index("ix_pending_actions_due", table_name="pending_actions")
    op.drop_table("pending_actions")
    op.rename_table("pending_actions_rekeyed", "pending_actions")
    op.create_index("ix_pending_actions_due", "pending_actions", ["due_at_ms"])
