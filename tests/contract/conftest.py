"""The `store` fixture: one contract suite, parametrised over memory, SQLite and PostgreSQL.

PostgreSQL runs against the server on 127.0.0.1:5432 in a database created for this session and
dropped after it. Without a server those tests are skipped, except in CI, where they fail.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from coordinator.ports import SagaStore
from coordinator.store import MemoryStore, SqlStore, open_store, upgrade_to_head

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test connect_timeout=3"

SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BACKENDS = ["memory", *SQL_BACKENDS]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated database of its own for this test session."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_HOST}:{PG_PORT} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable: {exc}")
    name = f"saga_contract_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
        upgrade_to_head(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _empty_postgres(url: str) -> None:
    # Deleting executions cascades to their steps, events and pending actions.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM executions")
        conn.execute("DELETE FROM saga_definitions")


@dataclass
class Backend:
    """A store under test, with a peek at the pending action it derived (not part of the port)."""

    name: str
    store: SagaStore
    url: str | None

    def pending_action(self, execution_id: str) -> dict[str, Any] | None:
        """The `pending_actions` row of an execution, as the backend stores it."""
        if isinstance(self.store, MemoryStore):
            row = self.store._pending.get(execution_id)
            return None if row is None else dict(row)
        assert self.url is not None
        if self.name == "sqlite":
            return _sqlite_pending(self.url, execution_id)
        return _postgres_pending(self.url, execution_id)


def _sqlite_pending(url: str, execution_id: str) -> dict[str, Any] | None:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        conn.row_factory = sqlite3.Row
        found = conn.execute("SELECT * FROM pending_actions WHERE execution_id = ?", (execution_id,)).fetchone()
    finally:
        conn.close()
    return None if found is None else dict(found)


def _postgres_pending(url: str, execution_id: str) -> dict[str, Any] | None:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM pending_actions WHERE execution_id = %s", (execution_id,)).fetchone()


async def _open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    name: str = request.param
    url: str | None = None
    if name == "memory":
        store = await open_store("memory://")
    elif name == "sqlite":
        url = f"sqlite:///{tmp_path / 'saga.db'}"
        store = await open_store(url)
        assert isinstance(store, SqlStore)
    else:
        url = request.getfixturevalue("postgres_url")
        _empty_postgres(url)
        store = await open_store(url, migrate=False)
    try:
        yield Backend(name=name, store=store, url=url)
    finally:
        await store.close()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh, empty store of each kind."""
    async for opened in _open_backend(request, tmp_path):
        yield opened


@pytest.fixture(params=SQL_BACKENDS)
async def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh, empty SQL store, for what only a database can show (constraints, transactions)."""
    async for opened in _open_backend(request, tmp_path):
        yield opened


@pytest.fixture
def store(backend: Backend) -> SagaStore:
    """The store under test."""
    return backend.store
