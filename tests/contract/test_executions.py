"""Executions: create with idempotency, load round-trips, and the compare-and-set commit."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy.exc import IntegrityError

from coordinator.core.history import HistoryEvent
from coordinator.core.state import (
    Direction,
    ExecutionStatus,
    InFlightCall,
    PendingWakeup,
    StepStatus,
)
from coordinator.errors import ExecutionNotFound, IdempotencyConflict, StaleRevision
from coordinator.ports import SagaStore
from coordinator.store import SqlStore

from .conftest import Backend
from .factories import T0, event, full_event, label_of, labelled, plain_state, record, rich_state, waiting


async def _history(store: SagaStore, execution_id: str) -> list[tuple[int, str]]:
    page = await store.list_events(execution_id, limit=1_000)
    return [(e.seq, label_of(e.event)) for e in page.items]


async def test_create_then_load_round_trips_every_field(store: SagaStore) -> None:
    original = record(rich_state(), key="k-1")

    created, is_new = await store.create_execution(original, (full_event(), event("execution_started")))

    assert is_new is True
    assert created == original
    assert await store.load_execution(original.state.id) == original


@pytest.mark.parametrize("value", [None, [1, "two", {"three": 3.5}], "text", 2**63 - 1, {}])
async def test_any_json_input_round_trips(store: SagaStore, value: object) -> None:
    original = replace(record(plain_state("ex-json")), input=value)

    await store.create_execution(original, ())

    assert (await store.load_execution("ex-json")).input == value


async def test_history_round_trips_every_field(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("ex-1")), (full_event(), event("execution_started")))

    page = await store.list_events("ex-1", limit=10)

    assert [e.seq for e in page.items] == [1, 2]
    assert page.items[0].event == full_event()
    assert page.items[1].event == event("execution_started")


async def test_same_key_and_digest_returns_the_existing_execution(store: SagaStore) -> None:
    first, _ = await store.create_execution(record(plain_state("ex-1"), key="k"), (event(),))

    again, is_new = await store.create_execution(record(plain_state("ex-2"), key="k"), (event(),))

    assert is_new is False
    assert again == first
    assert await _history(store, "ex-1") == [(1, "attempt_started")]
    with pytest.raises(ExecutionNotFound):
        await store.load_execution("ex-2")


async def test_same_key_with_another_request_conflicts(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("ex-1"), key="k", digest="a"), ())

    with pytest.raises(IdempotencyConflict):
        await store.create_execution(record(plain_state("ex-2"), key="k", digest="b"), ())


async def test_a_key_is_scoped_to_its_saga_and_absent_keys_never_collide(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("ex-1", saga="checkout"), key="k"), ())
    _, other_saga = await store.create_execution(record(plain_state("ex-2", saga="refund"), key="k"), ())
    _, keyless_a = await store.create_execution(record(plain_state("ex-3")), ())
    _, keyless_b = await store.create_execution(record(plain_state("ex-4")), ())

    assert (other_saga, keyless_a, keyless_b) == (True, True, True)


async def test_concurrent_creates_with_one_key_make_one_execution(store: SagaStore) -> None:
    attempts = [record(plain_state(f"ex-{i:02d}"), key="same") for i in range(20)]

    results = await asyncio.gather(*(store.create_execution(r, (event(),)) for r in attempts))

    assert sum(is_new for _, is_new in results) == 1
    winners = {r.state.id for r, _ in results}
    assert len(winners) == 1
    page = await store.list_executions(limit=50)
    assert [r.state.id for r in page.items] == list(winners)
    assert await _history(store, winners.pop()) == [(1, "attempt_started")]


async def test_commit_advances_the_revision_and_persists_the_state(store: SagaStore) -> None:
    created, _ = await store.create_execution(record(rich_state()), (event("execution_started"),))
    state = created.state
    step = replace(
        state.steps[1], status=StepStatus.FAILED, last_error="HTTP 402", last_status_code=402, finished_at_ms=T0 + 50
    )
    decided = replace(
        state.with_step(1, step),
        status=ExecutionStatus.COMPENSATING,
        in_flight=InFlightCall(
            step=0, direction=Direction.COMPENSATION, attempt=3, timeout_ms=750, started_at_ms=T0 + 50
        ),
        error=None,
        cancel_reason=None,
        deadline_at_ms=None,
        updated_at_ms=T0 + 50,
    )

    committed = await store.commit(decided, (event("rollback_started"),), expected_revision=0)

    assert committed == replace(decided, revision=1)
    loaded = await store.load_execution(state.id)
    assert loaded.state == committed
    assert (loaded.input, loaded.trace_context) == (created.input, created.trace_context)


async def test_stale_revision_writes_nothing(store: SagaStore) -> None:
    created, _ = await store.create_execution(record(rich_state()), (event("execution_started"),))
    first = await store.commit(
        waiting(created.state, due_at_ms=T0 + 900), (event("retry_scheduled"),), expected_revision=0
    )

    late = replace(created.state, status=ExecutionStatus.COMPLETED, in_flight=None)
    with pytest.raises(StaleRevision):
        await store.commit(late, (event("attempt_started"), event("execution_completed")), expected_revision=0)

    assert (await store.load_execution(created.state.id)).state == first
    assert await _history(store, created.state.id) == [(1, "execution_started"), (2, "retry_scheduled")]


async def test_concurrent_commits_of_one_revision_let_exactly_one_win(store: SagaStore) -> None:
    created, _ = await store.create_execution(record(plain_state("ex-1")), ())
    rivals = [replace(created.state, updated_at_ms=T0 + i) for i in range(1, 9)]

    results = await asyncio.gather(
        *(store.commit(s, (labelled(f"by-{s.updated_at_ms - T0}"),), expected_revision=0) for s in rivals),
        return_exceptions=True,
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, StaleRevision) for r in results if isinstance(r, BaseException))
    winner = winners[0]
    assert (await store.load_execution("ex-1")).state == winner
    assert await _history(store, "ex-1") == [(1, f"by-{winner.updated_at_ms - T0}")]


async def test_history_seq_is_gapless_across_commits(store: SagaStore) -> None:
    created, _ = await store.create_execution(record(plain_state("ex-1")), (labelled("s1"), labelled("s2")))
    state = created.state
    batches = [(), (labelled("c1"),), (), (labelled("c2"), labelled("c3"), labelled("c4")), (labelled("c5"),)]
    for batch in batches:
        state = await store.commit(
            replace(state, updated_at_ms=state.updated_at_ms + 1), batch, expected_revision=state.revision
        )

    assert state.revision == len(batches)
    assert await _history(store, "ex-1") == list(enumerate(["s1", "s2", "c1", "c2", "c3", "c4", "c5"], start=1))


async def test_a_failed_serialisation_writes_nothing(store: SagaStore) -> None:
    created, _ = await store.create_execution(record(plain_state("ex-1")), (event(),))
    both = replace(
        created.state,
        in_flight=InFlightCall(step=0, direction=Direction.ACTION, attempt=1, timeout_ms=10, started_at_ms=T0),
        wakeup=PendingWakeup(step=0, direction=Direction.ACTION, attempt=2, due_at_ms=T0),
    )

    with pytest.raises(ValueError, match="both"):
        await store.commit(both, (labelled("x"),), expected_revision=0)

    assert (await store.load_execution("ex-1")) == created
    assert await _history(store, "ex-1") == [(1, "attempt_started")]


async def test_a_commit_failing_midway_is_rolled_back_whole(sql_backend: Backend) -> None:
    backend, store = sql_backend, sql_backend.store
    created, _ = await store.create_execution(record(rich_state()), (event("execution_started"),))
    moved = waiting(replace(created.state, status=ExecutionStatus.COMPENSATING), due_at_ms=T0 + 1)
    broken = HistoryEvent(type=None, at_ms=T0)  # type: ignore[arg-type]  # NOT NULL, fails after the CAS

    with pytest.raises(IntegrityError):
        await store.commit(moved, (labelled("ok"), broken), expected_revision=0)

    assert await store.load_execution(created.state.id) == created
    assert await _history(store, created.state.id) == [(1, "execution_started")]
    assert backend.pending_action(created.state.id) is not None
    assert (await store.load_execution(created.state.id)).state.in_flight == created.state.in_flight


async def test_pending_action_is_derived_from_the_state_on_every_commit(backend: Backend) -> None:
    store = backend.store
    created, _ = await store.create_execution(record(rich_state()), ())
    execution_id = created.state.id
    assert backend.pending_action(execution_id) == {
        "execution_id": execution_id,
        "kind": "call",
        "step": 1,
        "direction": "action",
        "attempt": 1,
        "timeout_ms": 2_000,
        "due_at_ms": T0 + 21 + 2_000,
        "created_at_ms": T0 + 21,
    }

    retry = await store.commit(waiting(created.state, due_at_ms=T0 + 5_000), (), expected_revision=0)
    assert backend.pending_action(execution_id) == {
        "execution_id": execution_id,
        "kind": "wakeup",
        "step": 1,
        "direction": "action",
        "attempt": 2,
        "timeout_ms": None,
        "due_at_ms": T0 + 5_000,
        "created_at_ms": retry.updated_at_ms,
    }
    assert (await store.load_execution(execution_id)).state.wakeup == retry.wakeup

    idle = await store.commit(replace(retry, wakeup=None), (), expected_revision=1)
    assert backend.pending_action(execution_id) is None
    assert (await store.load_execution(execution_id)).state == idle


async def test_unknown_execution(store: SagaStore) -> None:
    with pytest.raises(ExecutionNotFound) as raised:
        await store.load_execution("nope")
    assert raised.value.execution_id == "nope"
    with pytest.raises(ExecutionNotFound):
        await store.list_events("nope", limit=10)
    with pytest.raises(ExecutionNotFound):
        await store.commit(plain_state("nope"), (event(),), expected_revision=0)


async def test_a_commit_given_the_previous_state_stores_exactly_what_a_plain_one_does(backend: Backend) -> None:
    store = backend.store
    await store.create_execution(record(rich_state("with")), ())
    await store.create_execution(record(rich_state("without")), ())
    for execution_id, diff in (("with", True), ("without", False)):
        before = (await store.load_execution(execution_id)).state
        steps = list(before.steps)
        steps[1] = replace(steps[1], status=StepStatus.FAILED, attempts=steps[1].attempts + 1, last_error="boom")
        after = waiting(replace(before, steps=tuple(steps)), due_at_ms=T0 + 5_000)
        await store.commit(after, (event(),), expected_revision=before.revision, previous=before if diff else None)
        again = replace(after, in_flight=None, wakeup=None, status=ExecutionStatus.COMPENSATING)
        loaded = (await store.load_execution(execution_id)).state
        await store.commit(again, (), expected_revision=loaded.revision, previous=loaded if diff else None)
    with_diff = (await store.load_execution("with")).state
    plain = (await store.load_execution("without")).state
    assert replace(with_diff, id="x") == replace(plain, id="x")
    assert backend.pending_action("with") is None and backend.pending_action("without") is None


async def test_history_stays_gapless_when_another_process_commits_in_between(sql_backend: Backend) -> None:
    # Each store remembers the history length at the revisions it committed; a revision committed
    # elsewhere must make it ask the database, not number entries from what it remembers.
    mine = sql_backend.store
    assert sql_backend.url is not None
    other = SqlStore(sql_backend.url)
    try:
        created, _ = await mine.create_execution(record(plain_state("ex-1")), (labelled("s1"), labelled("s2")))
        r1 = await mine.commit(replace(created.state, updated_at_ms=T0 + 1), (labelled("a"),), expected_revision=0)
        r2 = await other.commit(replace(r1, updated_at_ms=T0 + 2), (labelled("b"), labelled("c")), expected_revision=1)
        await mine.commit(replace(r2, updated_at_ms=T0 + 3), (labelled("d"),), expected_revision=2)
        with pytest.raises(StaleRevision):
            await mine.commit(replace(r1, updated_at_ms=T0 + 4), (labelled("late"),), expected_revision=1)
    finally:
        await other.close()

    assert await _history(mine, "ex-1") == list(enumerate(["s1", "s2", "a", "b", "c", "d"], start=1))
