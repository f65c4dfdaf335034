"""The SQL store survives its connections being cut (a PostgreSQL restart or failover)."""

from __future__ import annotations

import time

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


def _wait_until_ended(database: str) -> None:
    """Poll (with a deadline) until the terminated sessions are gone: termination is asynchronous."""
    deadline = time.monotonic() + 10
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        while True:
            left = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'saga-coordinator'",
                (database,),
            ).fetchone()
            if left == (0,):
                return
            assert time.monotonic() < deadline, f"{left} sessions still there"
            time.sleep(0.01)


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


async def test_a_write_on_a_connection_the_server_ended_goes_on_a_new_one(postgres_url: str) -> None:
    # No read first: the write itself must notice the dead pooled connection before sending
    # anything (its socket has the server's goodbye to read) and take a fresh one.
    store = SqlStore(postgres_url)
    try:
        created, _ = await store.create_execution(record(plain_state("ex-cut-write")), (event(),))
        database = postgres_url.rsplit("/", 1)[1]
        assert _terminate_store_connections(database) >= 1
        _wait_until_ended(database)  # a restart is over once the server has ended every session
        committed = await store.commit(created.state, (labelled("after"),), expected_revision=0, previous=created.state)
        assert committed.revision == 1
        assert (await store.load_execution("ex-cut-write")).state.revision == 1
    finally:
        await store.close()
