"""Leases for several coordinators on one database: owner, lease expiry, fencing epoch, quarantine.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the ownership columns; existing executions start unowned, so the first sweep claims them."""
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("owner", sa.String(), nullable=True))
        batch.add_column(sa.Column("lease_until_ms", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("epoch", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("recovery_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("quarantined", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the ownership columns."""
    with op.batch_alter_table("executions") as batch:
        for column in ("quarantined", "recovery_attempts", "epoch", "lease_until_ms", "owner"):
            batch.drop_column(column)
