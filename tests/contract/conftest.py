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
        """The one `pending_actions` row of an execution without a parallel group, as stored."""
        rows = self.pending_actions(execution_id)
        assert len(rows) <= 1, rows
        return rows[0] if rows else None

    def pending_actions(self, execution_id: str) -> list[dict[str, Any]]:
        """Every `pending_actions` row of an execution, as the backend stores them, by step and direction."""
        if isinstance(self.store, MemoryStore):
            rows = [dict(row) for row in self.store._pending.get(execution_id, [])]
        else:
            assert self.url is not None
            if self.name == "sqlite":
                rows = _sqlite_pending(self.url, execution_id)
            else:
                rows = _postgres_pending(self.url, execution_id)
        return sorted(rows, key=lambda row: (row["step"], row["direction"]))


def _sqlite_pending(url: str, execution_id: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        conn.row_factory = sqlite3.Row
        found = conn.execute("SELECT * FROM pending_actions WHERE execution_id = ?", (execution_id,)).fetchall()
    finally:
        conn.close()
    return [dict(row) for row in found]


def _postgres_pending(url: str, execution_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM pending_actions WHERE execution_id = %s", (execution_id,)).fetchall()


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
