"""Many executions committed at once: each write succeeds or fails on its own.

On PostgreSQL the writes queued while every connection is busy share one transaction
(`ServerGroupCommit`: transitions that keep the status, with `previous`); on SQLite they share
one too (`GroupCommit`). Either way a refused write
(a stale revision, a fenced owner) fails alone, and what the others wrote is committed, once.
"""

from __future__ import annotations

import asyncio

import pytest

from coordinator.errors import Fenced, StaleRevision
from coordinator.ports import Lease, SagaStore

from .factories import event, plain_state, record

LONG = 60_000


async def test_concurrent_commits_of_many_executions_succeed_or_fail_each_on_its_own(store: SagaStore) -> None:
    count = 60
    ids = [f"e{i:03}" for i in range(count)]
    for execution_id in ids:
        await store.create_execution(record(plain_state(execution_id)), (event(),), owner="a", lease_ms=LONG)
    stale = set(ids[5::10])
    fenced = set(ids[7::10])
    loaded = {execution_id: (await store.load_execution(execution_id)).state for execution_id in ids}

    async def commit(execution_id: str) -> object:
        state = loaded[execution_id]
        expected = state.revision - 1 if execution_id in stale else state.revision
        lease = Lease(owner="a", epoch=2 if execution_id in fenced else 1)
        try:
            return await store.commit(
                state, (event(), event()), expected_revision=expected, lease=lease, previous=state
            )
        except (StaleRevision, Fenced) as refused:
            return refused

    outcomes = dict(zip(ids, await asyncio.gather(*(commit(i) for i in ids)), strict=True))
    for execution_id, outcome in outcomes.items():
        events = (await store.list_events(execution_id, limit=10)).items
        revision = (await store.load_execution(execution_id)).state.revision
        if execution_id in fenced:
            assert isinstance(outcome, Fenced), (execution_id, outcome)
        elif execution_id in stale:
            assert isinstance(outcome, StaleRevision) and not isinstance(outcome, Fenced), (execution_id, outcome)
        else:
            assert not isinstance(outcome, Exception), (execution_id, outcome)
            assert revision == loaded[execution_id].revision + 1 and [e.seq for e in events] == [1, 2, 3]
            continue
        assert revision == loaded[execution_id].revision and [e.seq for e in events] == [1]


@pytest.mark.parametrize("rounds", [3])
async def test_concurrent_commits_with_lease_renewals_never_deadlock(store: SagaStore, rounds: int) -> None:
    """Renewals lock every lease of the owner while transitions lock theirs: in the same order, so
    neither waits for the other in a cycle (the server would fail one of them after a second)."""
    ids = [f"r{i:03}" for i in range(40)]
    for execution_id in reversed(ids):
        await store.create_execution(record(plain_state(execution_id)), (), owner="a", lease_ms=LONG)
    for _ in range(rounds):
        states = [(await store.load_execution(i)).state for i in ids]
        renewals = [store.renew("a", lease_ms=LONG) for _ in range(3)]
        commits = [
            store.commit(s, (event(),), expected_revision=s.revision, lease=Lease(owner="a", epoch=1), previous=s)
            for s in states
        ]
        results = await asyncio.wait_for(asyncio.gather(*renewals, *commits), timeout=30)
        assert results[:3] == [len(ids)] * 3
