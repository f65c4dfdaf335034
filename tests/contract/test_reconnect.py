"""The SQL store survives its connections being cut (a PostgreSQL restart or failover)."""

from __future__ import annotations

import psycopg
import pytest

from coordinator.store import SqlStore

from .conftest import PG_ADMIN
from .factories import event, labelled, plain_state, record

pytestmark = pytest.mark.postgres


def _terminate_store_connections(database: str) -> int:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = 'saga-coordinator'",
            (database,),
        ).fetchall()
    return len(rows)


async def test_pooled_connections_cut_under_the_store_are_replaced(postgres_url: str) -> None:
    store = SqlStore(postgres_url)
    try:
        created, _ = await store.create_execution(record(plain_state("ex-reconnect")), (event(),))
        assert _terminate_store_connections(postgres_url.rsplit("/", 1)[1]) >= 1

        # pool_pre_ping notices the dead connection at checkout and opens a new one.
        await store.ping()
        assert await store.load_execution("ex-reconnect") == created
        committed = await store.commit(created.state, (labelled("after"),), expected_revision=0)
        assert committed.revision == 1
    finally:
        await store.close()
