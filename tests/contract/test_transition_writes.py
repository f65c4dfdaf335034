"""A commit given the previous state (the engine's usual transition, one statement on PostgreSQL):
a lost compare-and-set writes nothing at all, and a won one stores every field of every row."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from coordinator.core.state import ExecutionState, StepStatus
from coordinator.errors import Fenced, StaleRevision
from coordinator.ports import Lease

from .conftest import Backend
from .factories import T0, full_event, labelled, record, rich_state, waiting

LONG = 60_000


def _next(before: ExecutionState, error: str) -> ExecutionState:
    steps = list(before.steps)
    steps[1] = replace(steps[1], status=StepStatus.FAILED, attempts=steps[1].attempts + 1, last_error=error)
    return waiting(replace(before, steps=tuple(steps)), due_at_ms=T0 + 5_000)


async def test_a_fenced_commit_with_the_previous_state_writes_nothing(backend: Backend) -> None:
    store = backend.store
    await store.create_execution(record(rich_state("e1")), (), owner="a", lease_ms=0)
    await asyncio.sleep(0.01)
    [claim] = await store.claim("b", lease_ms=LONG, limit=10)
    before = (await store.load_execution("e1")).state
    pending_before = backend.pending_actions("e1")
    with pytest.raises(Fenced):
        await store.commit(
            _next(before, "late"),
            (labelled("late"),),
            expected_revision=before.revision,
            lease=Lease(owner="a", epoch=1),
            previous=before,
        )
    assert (await store.list_events("e1", limit=10)).items == []
    assert (await store.load_execution("e1")).state == before
    assert backend.pending_actions("e1") == pending_before
    won = _next(before, "in time")
    await store.commit(
        won,
        (labelled("in time"),),
        expected_revision=before.revision,
        lease=Lease(owner="b", epoch=claim.epoch),
        previous=before,
    )
    assert (await store.load_execution("e1")).state == replace(won, revision=before.revision + 1)
    assert [e.event.error for e in (await store.list_events("e1", limit=10)).items] == ["in time"]
    assert [row["kind"] for row in backend.pending_actions("e1")] == ["wakeup"]


async def test_of_two_commits_from_one_revision_the_second_is_stale_and_writes_nothing(backend: Backend) -> None:
    store = backend.store
    await store.create_execution(record(rich_state("e1")), (labelled("created"),))
    before = (await store.load_execution("e1")).state
    first = _next(before, "first")
    await store.commit(first, (labelled("first"),), expected_revision=before.revision, previous=before)
    with pytest.raises(StaleRevision):
        await store.commit(
            _next(before, "second"),
            (labelled("second"), labelled("twice")),
            expected_revision=before.revision,
            previous=before,
        )
    assert (await store.load_execution("e1")).state == replace(first, revision=before.revision + 1)
    events = (await store.list_events("e1", limit=10)).items
    assert [(e.seq, e.event.error) for e in events] == [(1, "created"), (2, "first")]


async def test_every_field_of_a_history_entry_survives_a_commit_with_the_previous_state(backend: Backend) -> None:
    store = backend.store
    await store.create_execution(record(rich_state("e1")), ())
    before = (await store.load_execution("e1")).state
    entry = full_event(at=T0 + 7)
    after = _next(before, "boom")
    await store.commit(after, (entry, labelled("then")), expected_revision=before.revision, previous=before)
    stored = (await store.list_events("e1", limit=10)).items
    assert [e.seq for e in stored] == [1, 2]
    assert stored[0].event == entry
    assert (await store.load_execution("e1")).state == replace(after, revision=before.revision + 1)
