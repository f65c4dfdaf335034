"""Durable storage of sagas and executions: SQLite or PostgreSQL (`SqlStore`), or in memory.

`open_store(url)` is the one way the app builds a store: `memory://`, `sqlite:///path` or
`postgresql://...`. SQLModel is imported nowhere outside this package.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from coordinator.ports import SagaStore
from coordinator.store.archive import DailyArchive
from coordinator.store.connect import is_sqlite, normalise_url
from coordinator.store.memory import MemoryStore
from coordinator.store.migrate import upgrade_to_head
from coordinator.store.single_writer import SingleWriterLock
from coordinator.store.sql import DEFAULT_CALL_TIMEOUT_S, SqlStore

__all__ = ["DailyArchive", "MemoryStore", "SqlStore", "open_store", "upgrade_to_head"]

MEMORY_URL = "memory://"


async def open_store(url: str, *, migrate: bool = True, call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S) -> SagaStore:
    """The store for `url`; SQL databases are first migrated to the latest schema if `migrate`.

    `call_timeout_s` is the deadline of each PostgreSQL call (see `store.deadlines`).

    Raises:
        ValueError: the URL is not `memory://`, a SQLite file or PostgreSQL.
        StoreUnavailable: the database cannot be reached.
    """
    if url == MEMORY_URL:
        return MemoryStore()
    lock = sqlite_lock(url)
    if lock is not None:
        lock.acquire()  # before migrating: a second process must not touch the file at all
    try:
        if migrate:
            # Alembic is synchronous: keep it off the event loop like every other database call.
            await asyncio.to_thread(upgrade_to_head, url)
        return SqlStore(url, lock=lock, call_timeout_s=call_timeout_s)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def sqlite_lock(url: str) -> SingleWriterLock | None:
    """The single-writer lock of a SQLite URL's file; None for other databases."""
    parsed = normalise_url(url)
    if not is_sqlite(parsed) or parsed.database is None:
        return None
    return SingleWriterLock(Path(parsed.database).resolve())
