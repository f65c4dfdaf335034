"""Schema migrations, driven from code: `saga serve` calls `upgrade_to_head` at start.

No alembic.ini is needed at run time; the Alembic config is built here, pointing at the
`migrations` folder shipped inside the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from coordinator.errors import StoreUnavailable
from coordinator.store.connect import WRITE, describe, is_sqlite, is_unavailable, make_engine, normalise_url
from coordinator.store.tables import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "saga_schema_version"
"""Alembic's bookkeeping table, named for us so a database shared with another app cannot clash."""

# Key of the PostgreSQL advisory lock that serialises replicas migrating at the same start-up.
_MIGRATION_LOCK = 0x5A6A_C00D


def alembic_config(connection: Connection) -> Config:
    """An Alembic config that runs our migrations on `connection` (see `migrations/env.py`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(url: str) -> None:
    """Create or upgrade the schema at `url` to the latest revision; a no-op when up to date.

    Safe to call from several processes at once on PostgreSQL (an advisory lock serialises them)
    and on SQLite (the migration holds the write lock).

    Raises:
        StoreUnavailable: the database cannot be reached.
    """
    upgrade_to(url, "head")


def upgrade_to(url: str, revision: str) -> None:
    """Create or upgrade the schema at `url` to `revision` (such as "0001"); see `upgrade_to_head`.

    An older revision than the latest is for tests that build a database as an earlier release
    left it, then upgrade it.

    Raises:
        StoreUnavailable: the database cannot be reached.
    """
    parsed = normalise_url(url)
    engine = make_engine(parsed, pool_size=1, statement_timeout_ms=0)
    try:
        with engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                if not is_sqlite(parsed):
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                command.upgrade(alembic_config(conn), revision)
    except SQLAlchemyError as exc:
        if is_unavailable(exc):
            raise StoreUnavailable(f"database unavailable: {describe(exc)}") from exc
        raise
    finally:
        engine.dispose()


def schema_differences(url: str) -> list[Any]:
    """What separates the database's schema from `tables.metadata` (empty when they match).

    The items are Alembic autogenerate diffs; a test asserts there are none after migrating.
    """
    engine = make_engine(normalise_url(url), pool_size=1, statement_timeout_ms=0)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
            diffs: list[Any] = compare_metadata(context, metadata)
            return diffs
    finally:
        engine.dispose()
