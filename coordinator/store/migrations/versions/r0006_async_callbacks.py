"""Asynchronous participants: recorded callbacks per step, and the key replicas share.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

A step keeps the callback recorded for its latest attempt in each direction (`callbacks`, JSON;
NULL: none), so a repeated callback is told from a conflicting one. A wait for a callback is a
`pending_actions` row of kind `wait`: no schema change. `server_keys` holds the HMAC key of the
callback tokens, made by the first coordinator to start, so every replica verifies the same tokens.

Both are additions (a new column on a child table, a new table): `executions` is not touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the step column and the keys table."""
    op.add_column("execution_steps", sa.Column("callbacks", sa.Text(), nullable=True))
    op.create_table(
        "server_keys",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("server_keys")
    op.execute("ALTER TABLE execution_steps DROP COLUMN callbacks")
