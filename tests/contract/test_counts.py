"""Counts per status: what the console's executions list shows above its rows."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from coordinator.core.state import ExecutionStatus
from coordinator.ports import ExecutionQuery, SagaStore

from .factories import T0, labelled, plain_state, record

STATUSES = list(ExecutionStatus)


async def test_counts_per_status_overall_and_per_saga(store: SagaStore) -> None:
    expected: dict[str, Counter[ExecutionStatus]] = {"checkout": Counter(), "refund": Counter()}
    for i in range(17):
        saga = ("checkout", "refund")[i % 2]
        status = STATUSES[(i * 3) % len(STATUSES)]
        await store.create_execution(
            record(plain_state(f"ex-{i:02d}", saga=saga, status=status, created_at_ms=T0 + i)), ()
        )
        expected[saga][status] += 1
    assert await store.count_by_status() == dict(expected["checkout"] + expected["refund"])
    assert await store.count_by_status(saga="refund") == dict(expected["refund"])
    assert await store.count_by_status(saga="nobody") == {}


MINUTE = 60_000
S = ExecutionStatus


async def _move(store: SagaStore, execution_id: str, status: ExecutionStatus, at: int) -> None:
    """Commit `execution_id` into `status` at `at`, stamped as the machine would stamp it."""
    current = (await store.load_execution(execution_id)).state
    terminal = status.is_terminal
    moved = replace(
        current,
        status=status,
        updated_at_ms=at,
        finished_at_ms=at if terminal else None,
        attention_at_ms=at if status is S.FAILED else (None if terminal else at + 15 * MINUTE),
    )
    await store.commit(moved, (labelled(f"{status.value}@{at}", at=at),), expected_revision=current.revision)


async def _recount(store: SagaStore, saga: str | None = None) -> dict[ExecutionStatus, int]:
    """The counts the slow way: every execution listed, one by one."""
    page = await store.list_executions(ExecutionQuery(saga=saga), limit=1000)
    return dict(Counter(r.state.status for r in page.items))


async def test_counts_stay_exact_through_start_finish_fail_retry_and_purge(store: SagaStore) -> None:
    for i in range(6):
        await store.create_execution(record(plain_state(f"ex-{i}", saga=("a", "b")[i % 2], created_at_ms=T0 + i)), ())
    assert await store.count_by_status() == {S.RUNNING: 6}
    assert await store.count_by_status(saga="a") == {S.RUNNING: 3}

    await _move(store, "ex-0", S.COMPLETED, at=T0 + 10)
    await _move(store, "ex-1", S.COMPENSATING, at=T0 + 11)
    await _move(store, "ex-1", S.COMPENSATED, at=T0 + 12)
    await _move(store, "ex-2", S.COMPENSATING, at=T0 + 13)
    await _move(store, "ex-2", S.FAILED, at=T0 + 14)
    assert await store.count_by_status() == {S.RUNNING: 3, S.COMPLETED: 1, S.COMPENSATED: 1, S.FAILED: 1}
    assert await store.count_by_status(saga="a") == {S.RUNNING: 1, S.COMPLETED: 1, S.FAILED: 1}

    # An operator's retry of the failed one: back to compensating, then done.
    await _move(store, "ex-2", S.COMPENSATING, at=T0 + 20)
    assert await store.count_by_status(saga="a") == {S.RUNNING: 1, S.COMPLETED: 1, S.COMPENSATING: 1}
    await _move(store, "ex-2", S.COMPENSATED, at=T0 + 21)
    # A revision that keeps the status (a retry scheduled, a lease renewed) changes no count.
    await _move(store, "ex-3", S.RUNNING, at=T0 + 22)

    counted = {S.RUNNING: 3, S.COMPLETED: 1, S.COMPENSATED: 2}
    assert await store.count_by_status() == counted == await _recount(store)

    # Retention deletes finished ones (never failed, never running): they leave the counts.
    assert (await store.purge_finished(T0 + 13, limit=10)).deleted == 2  # ex-0 and ex-1 finished before it
    assert await store.count_by_status() == {S.RUNNING: 3, S.COMPENSATED: 1} == await _recount(store)
    assert await store.count_by_status(saga="b") == {S.RUNNING: 2} == await _recount(store, "b")
    assert (await store.purge_finished(T0 + MINUTE, limit=10)).deleted == 1
    assert await store.count_by_status(saga="a") == {S.RUNNING: 1}


async def test_a_start_refused_as_a_duplicate_counts_nothing(store: SagaStore) -> None:
    first = record(plain_state("ex-1", created_at_ms=T0), key="k")
    await store.create_execution(first, ())
    again = record(plain_state("ex-2", created_at_ms=T0 + 1), key="k")
    _, created = await store.create_execution(again, ())
    assert not created
    assert await store.count_by_status() == {S.RUNNING: 1}


async def test_concurrent_commits_keep_the_counts_exact(store: SagaStore) -> None:
    """Many executions finishing at once (on PostgreSQL, transactions racing for the count rows)."""
    ids = [f"ex-{i:03d}" for i in range(60)]
    await asyncio.gather(*(store.create_execution(record(plain_state(i, created_at_ms=T0)), ()) for i in ids))
    await asyncio.gather(*(_move(store, i, (S.COMPLETED, S.COMPENSATING)[n % 2], at=T0 + 1) for n, i in enumerate(ids)))
    await asyncio.gather(*(_move(store, i, S.FAILED, at=T0 + 2) for i in ids[1::4]))
    assert await store.count_by_status() == {S.COMPLETED: 30, S.COMPENSATING: 15, S.FAILED: 15}
    assert await store.count_by_status() == await _recount(store)
