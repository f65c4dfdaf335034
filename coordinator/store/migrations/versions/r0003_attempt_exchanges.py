"""What was said and who resolved it: requests and responses per attempt, operators' resolves.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Every column is nullable and nothing is backfilled: attempts recorded before this revision
simply have no request or response to show.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the JSON text columns to the steps and the history, and the resolve's note and actor."""
    with op.batch_alter_table("execution_steps") as batch:
        batch.add_column(sa.Column("last_exchange", sa.Text(), nullable=True))
        batch.add_column(sa.Column("resolution", sa.Text(), nullable=True))
    with op.batch_alter_table("execution_events") as batch:
        batch.add_column(sa.Column("request", sa.Text(), nullable=True))
        batch.add_column(sa.Column("response", sa.Text(), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("actor", sa.String(), nullable=True))


def downgrade() -> None:
    """Drop the columns `upgrade` added."""
    with op.batch_alter_table("execution_events") as batch:
        for column in ("actor", "note", "response", "request"):
            batch.drop_column(column)
    with op.batch_alter_table("execution_steps") as batch:
        for column in ("resolution", "last_exchange"):
            batch.drop_column(column)
