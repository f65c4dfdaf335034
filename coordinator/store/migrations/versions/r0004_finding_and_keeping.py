"""Finding and keeping executions: the business key, when one needs attention, when it finished.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

Backfilled only where the stored rows say it: `finished_at_ms` of an execution that already ended is
its last update; one that `failed` needs attention since then; an unfinished one from its last
update plus the default `alert_after` (15 minutes; its next commit sets its saga's own). The
business key is not backfilled: it comes from a definition's `key:`, which did not exist before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_DEFAULT_ALERT_AFTER_MS = 15 * 60 * 1000


def upgrade() -> None:
    """Add the columns and their indexes, then fill what the rows already say."""
    key = sa.String().with_variant(sa.String(collation="C"), "postgresql")
    # Plain ADD COLUMNs, never a batch (copy-and-rename) on SQLite: dropping the old `executions`
    # table would cascade to the steps, history and pending actions of every execution.
    op.add_column("executions", sa.Column("business_key", key, nullable=True))
    op.add_column("executions", sa.Column("finished_at_ms", sa.BigInteger(), nullable=True))
    op.add_column("executions", sa.Column("attention_at_ms", sa.BigInteger(), nullable=True))
    op.add_column("executions", sa.Column("attention_noted", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(
        "UPDATE executions SET finished_at_ms = updated_at_ms WHERE status IN ('completed', 'compensated', 'failed')"
    )
    op.execute("UPDATE executions SET attention_at_ms = updated_at_ms WHERE status = 'failed'")
    op.execute(
        sa.text(
            "UPDATE executions SET attention_at_ms = updated_at_ms + :alert_after "
            "WHERE status IN ('running', 'compensating')"
        ).bindparams(alert_after=_DEFAULT_ALERT_AFTER_MS)
    )
    op.execute("UPDATE executions SET attention_at_ms = 0 WHERE quarantined IS NOT NULL AND attention_at_ms IS NULL")
    op.create_index("ix_executions_key", "executions", ["business_key", "created_at_ms", "id"])
    op.create_index("ix_executions_attention", "executions", ["attention_at_ms"])
    op.create_index("ix_executions_finished", "executions", ["finished_at_ms"])


def downgrade() -> None:
    """Drop what `upgrade` added."""
    for index in ("ix_executions_finished", "ix_executions_attention", "ix_executions_key"):
        op.drop_index(index, table_name="executions")
    for column in ("attention_noted", "attention_at_ms", "finished_at_ms", "business_key"):
        # Native DROP COLUMN (SQLite 3.35+), for the reason `upgrade` adds them without a batch.
        op.execute(f"ALTER TABLE executions DROP COLUMN {column}")
