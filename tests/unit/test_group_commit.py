"""Group commit on a real SQLite file: one transaction for the batch, each write undone alone on failure."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from coordinator.store.connect import WRITE, make_engine, normalise_url
from coordinator.store.group_commit import MAX_BATCH, GroupCommit


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    # The store's own engine setup: it issues BEGIN itself, which savepoints depend on (without
    # it, pysqlite lets the first RELEASE commit).
    engine = make_engine(normalise_url(f"sqlite:///{tmp_path / 'g.db'}"), pool_size=1)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    return engine


def _transactions(engine: Engine, count: list[int]) -> Any:
    def transaction(work: Any) -> Any:
        count[0] += 1
        with engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                return work(conn)

    return transaction


def _insert(*keys: int) -> Any:
    def work(conn: Connection) -> list[int]:
        for key in keys:
            conn.execute(text("INSERT INTO t (k, v) VALUES (:k, 'x')"), {"k": key})
        return list(keys)

    return work


def _stored(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT k FROM t ORDER BY k")]


async def test_queued_writes_share_one_transaction_and_each_caller_gets_its_own_result(engine: Engine) -> None:
    transactions = [0]
    group = GroupCommit(_transactions(engine, transactions), is_fatal=lambda _: False)
    futures = [group.enqueue(_insert(1, 2)), group.enqueue(_insert(3)), group.enqueue(_insert(4, 5))]

    await asyncio.to_thread(group.flush)

    assert await asyncio.gather(*futures) == [[1, 2], [3], [4, 5]]
    assert transactions == [1]
    assert _stored(engine) == [1, 2, 3, 4, 5]


async def test_a_write_failing_midway_is_undone_alone(engine: Engine) -> None:
    group = GroupCommit(_transactions(engine, [0]), is_fatal=lambda _: False)
    first = group.enqueue(_insert(1))
    broken = group.enqueue(_insert(7, 1))  # inserts 7, then collides with 1: 7 must not stay
    last = group.enqueue(_insert(2))

    await asyncio.to_thread(group.flush)

    assert await first == [1]
    with pytest.raises(IntegrityError):
        await broken
    assert await last == [2]
    assert _stored(engine) == [1, 2]


async def test_a_fatal_error_fails_every_write_of_the_batch_and_commits_none(engine: Engine) -> None:
    group = GroupCommit(_transactions(engine, [0]), is_fatal=lambda e: isinstance(e, OperationalError))

    def disk_gone(conn: Connection) -> None:
        conn.exec_driver_sql("SELECT * FROM no_such_table")

    futures = [group.enqueue(_insert(1)), group.enqueue(disk_gone), group.enqueue(_insert(2))]
    await asyncio.to_thread(group.flush)

    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(r, OperationalError) for r in results)
    assert _stored(engine) == []


async def test_a_batch_is_bounded_and_later_flushes_take_the_rest(engine: Engine) -> None:
    transactions = [0]
    group = GroupCommit(_transactions(engine, transactions), is_fatal=lambda _: False)
    futures = [group.enqueue(_insert(k)) for k in range(MAX_BATCH + 3)]

    await asyncio.to_thread(group.flush)
    assert transactions == [1]
    assert len(_stored(engine)) == MAX_BATCH
    await asyncio.to_thread(group.flush)
    await asyncio.to_thread(group.flush)  # finds nothing queued: no transaction

    assert len(await asyncio.gather(*futures)) == MAX_BATCH + 3
    assert transactions == [2]
    assert _stored(engine) == list(range(MAX_BATCH + 3))
