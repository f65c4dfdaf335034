"""Alembic's entry point: runs the migrations on the connection `coordinator.store.migrate` passes.

Only this programmatic, online mode is supported; there is no alembic.ini and no URL here, so a
migration always runs on an engine configured exactly like the store's.
"""

from __future__ import annotations

from alembic import context

from coordinator.store.migrate import VERSION_TABLE
from coordinator.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with coordinator.store.migrate.upgrade_to_head(url)")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
