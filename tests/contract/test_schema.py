"""Migrations build exactly the SQLModel schema, idempotently; URLs and outages are handled."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from coordinator.errors import StoreUnavailable
from coordinator.store import MemoryStore, SqlStore, open_store, upgrade_to_head
from coordinator.store.connect import normalise_url
from coordinator.store.migrate import schema_differences

from .conftest import PG_ADMIN

UNREACHABLE_PG = "postgresql://postgres@127.0.0.1:1/nothing?connect_timeout=2"


def test_sqlite_migration_matches_the_tables_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'saga.db'}"

    upgrade_to_head(url)
    upgrade_to_head(url)

    assert schema_differences(url) == []
    with sqlite3.connect(tmp_path / "saga.db") as conn:
        (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
        (index_sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'ix_executions_unfinished'").fetchone()
    conn.close()
    assert journal == "wal"
    # Alembic's comparison ignores partial-index predicates, so check this one directly.
    assert "WHERE status IN ('running', 'compensating')" in index_sql


@pytest.mark.postgres
def test_postgres_migration_matches_the_tables_and_is_idempotent(postgres_url: str) -> None:
    upgrade_to_head(postgres_url)  # the session fixture migrated once already

    assert schema_differences(postgres_url) == []
    with psycopg.connect(postgres_url) as conn:
        (index_def,) = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_executions_unfinished'"
        ).fetchone()  # type: ignore[misc]
        collations = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND collation_name = 'C' ORDER BY table_name, column_name"
        ).fetchall()
    assert "WHERE ((status)::text = ANY" in index_def
    assert "'running'" in index_def and "'compensating'" in index_def
    # Alembic ignores collations too: list keys must compare bytewise whatever the locale.
    assert collations == [
        ("execution_counts", "saga_name"),
        ("execution_events", "execution_id"),
        ("execution_steps", "execution_id"),
        ("executions", "business_key"),
        ("executions", "id"),
        ("pending_actions", "execution_id"),
        ("saga_definitions", "name"),
    ]


def _migrate_concurrently(url: str, processes: int = 4) -> list[BaseException]:
    """Several replicas starting at once all run `upgrade_to_head`; collect what they raised."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade_to_head(url)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_sqlite_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'saga.db'}"

    assert _migrate_concurrently(url) == []
    assert schema_differences(url) == []


@pytest.mark.postgres
def test_concurrent_postgres_migrations(postgres_url: str) -> None:
    name = f"saga_migrate_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = postgres_url.rsplit("/", 1)[0] + "/" + name
        assert _migrate_concurrently(url) == []
        assert schema_differences(url) == []
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


async def test_open_store_picks_the_backend_and_migrates(tmp_path: Path) -> None:
    memory = await open_store("memory://")
    url = f"sqlite:///{tmp_path / 'saga.db'}"
    sql = await open_store(url)
    try:
        assert isinstance(memory, MemoryStore)
        assert isinstance(sql, SqlStore)
        assert schema_differences(url) == []
        await sql.ping()
    finally:
        await memory.close()
        await sql.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/saga", "postgresql+psycopg://u:***@db:5432/saga"),
        ("postgresql://u@db/saga", "postgresql+psycopg://u@db/saga"),
        ("postgresql+psycopg://u@db/saga", "postgresql+psycopg://u@db/saga"),
        ("sqlite:///./saga.db", "sqlite:///./saga.db"),
    ],
)
def test_url_normalisation(given: str, expected: str) -> None:
    assert str(normalise_url(given)) == expected


@pytest.mark.parametrize("url", ["mysql://db/saga", "sqlite://", "sqlite:///:memory:", "memory"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"memory://|unsupported|not a database URL"):
        normalise_url(url)


async def test_an_unreachable_database_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        upgrade_to_head(UNREACHABLE_PG)
    store = SqlStore(UNREACHABLE_PG)
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
        with pytest.raises(StoreUnavailable):
            await store.load_execution("ex-1")
    finally:
        await store.close()


async def test_a_missing_schema_is_not_mistaken_for_an_outage(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'saga.db'}", migrate=False)
    try:
        with pytest.raises(Exception) as raised:
            await store.load_execution("ex-1")
        assert not isinstance(raised.value, StoreUnavailable)
        assert "no such table" in str(raised.value)
    finally:
        await store.close()
