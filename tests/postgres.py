"""PostgreSQL for tests: the server on 127.0.0.1:5432, a database per session, dropped after."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from coordinator.store import upgrade_to_head

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_ADMIN = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test connect_timeout=3"


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """Create and migrate a fresh database; skip without a server, but fail when CI=true."""
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_HOST}:{PG_PORT} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable: {exc}")
    name = f"{prefix}_{secrets.token_hex(6)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
        upgrade_to_head(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def empty_postgres(url: str) -> None:
    """Delete every row; deleting executions cascades to their steps, events and pending actions."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM executions")
        conn.execute("DELETE FROM saga_definitions")
