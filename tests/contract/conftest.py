"""The `store` fixture: one contract suite, parametrised over memory, SQLite and PostgreSQL.

PostgreSQL runs against the server on 127.0.0.1:5432 in a database created for this session and
dropped after it. Without a server those tests are skipped, except in CI, where they fail.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from coordinator.ports import SagaStore
from coordinator.store import MemoryStore, SqlStore, open_store
from tests.postgres import empty_postgres

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test connect_timeout=3"

SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
BACKENDS = ["memory", *SQL_BACKENDS]


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
        empty_postgres(url)
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
