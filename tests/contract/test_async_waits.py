"""Asynchronous steps (SPEC 7.3) in every store: waits are pending actions, recorded callbacks stay
with their step, and the callback key is shared (the first to ask makes it)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.state import (
    CallbackOutcome,
    Direction,
    ExecutionState,
    ExecutionStatus,
    PendingWait,
    RecordedCallback,
    StepState,
    StepStatus,
)
from coordinator.ports import AttentionReason, SagaStore

from .conftest import Backend
from .factories import T0, event, record


def waiting_state(execution_id: str) -> ExecutionState:
    """A lone step waiting for its callback, and a compensation of another waiting for its own."""
    return ExecutionState(
        id=execution_id,
        saga="checkout",
        version=1,
        status=ExecutionStatus.RUNNING,
        steps=(
            StepState(name="reserve", status=StepStatus.WAITING, attempts=1, started_at_ms=T0 + 1),
            StepState(name="charge", status=StepStatus.WAITING, attempts=2, started_at_ms=T0 + 5),
        ),
        created_at_ms=T0,
        updated_at_ms=T0 + 9,
        waits=(
            PendingWait(
                step=0,
                direction=Direction.ACTION,
                attempt=1,
                since_ms=T0 + 2,
                timeout_at_ms=T0 + 60_002,
                due_at_ms=T0 + 60_002,
            ),
            PendingWait(
                step=1,
                direction=Direction.COMPENSATION,
                attempt=2,
                since_ms=T0 + 6,
                timeout_at_ms=T0 + 900_006,
                due_at_ms=T0 + 120_006,
            ),
        ),
    )


async def test_waits_are_kept_as_pending_actions_and_read_back(backend: Backend) -> None:
    created, _ = await backend.store.create_execution(record(waiting_state("w-1")), (event(),))
    loaded = await backend.store.load_execution("w-1")
    assert loaded.state == created.state == waiting_state("w-1")
    rows = backend.pending_actions("w-1")
    assert [(r["kind"], r["step"], r["direction"], r["due_at_ms"]) for r in rows] == [
        ("wait", 0, "action", T0 + 60_002),
        ("wait", 1, "compensation", T0 + 120_006),
    ]


async def test_a_heartbeat_moves_the_due_time_and_a_callback_ends_the_wait(backend: Backend) -> None:
    store = backend.store
    created, _ = await store.create_execution(record(waiting_state("w-2")), (event(),))
    state = created.state
    first, second = state.waits
    beat = replace(state, waits=(replace(first, due_at_ms=T0 + 70_000), second), updated_at_ms=T0 + 20)
    heartbeat = HistoryEvent(type=HistoryEventType.HEARTBEAT_RECEIVED, at_ms=T0 + 20, step="reserve", attempt=1)
    state = await store.commit(beat, (heartbeat,), expected_revision=state.revision, previous=state)
    assert (await store.load_execution("w-2")).state.waits[0].due_at_ms == T0 + 70_000
    recorded = RecordedCallback(direction=Direction.ACTION, attempt=1, outcome=CallbackOutcome.SUCCEEDED)
    done = replace(
        state.with_step(0, replace(state.steps[0], status=StepStatus.SUCCEEDED, callbacks=(recorded,))),
        waits=(second,),
        updated_at_ms=T0 + 30,
    )
    callback = HistoryEvent(
        type=HistoryEventType.CALLBACK_RECEIVED, at_ms=T0 + 30, step="reserve", attempt=1, outcome="succeeded"
    )
    state = await store.commit(done, (callback,), expected_revision=state.revision, previous=state)
    loaded = (await store.load_execution("w-2")).state
    assert loaded == state
    assert loaded.steps[0].callback_of(Direction.ACTION) == recorded
    assert loaded.steps[0].callback_of(Direction.COMPENSATION) is None
    assert [r["kind"] for r in backend.pending_actions("w-2")] == ["wait"]
    history = (await store.list_events("w-2", limit=10)).items
    assert [e.event.type for e in history][-2:] == ["heartbeat_received", "callback_received"]


async def test_the_callback_key_is_made_once_and_shared(store: SagaStore) -> None:
    keys = await asyncio.gather(*(store.server_key("callback", f"candidate-{i}", now_ms=T0) for i in range(4)))
    assert len(set(keys)) == 1 and keys[0].startswith("candidate-")
    assert await store.server_key("callback", "another", now_ms=T0 + 1) == keys[0]
    assert await store.server_key("other", "x-key", now_ms=T0) == "x-key"


async def test_a_silent_execution_that_waits_for_a_callback_needs_attention_as_waiting(backend: Backend) -> None:
    store = backend.store
    silent = replace(waiting_state("w-3"), attention_at_ms=T0 + 100)
    await store.create_execution(record(silent), (event(),))
    await store.create_execution(record(replace(silent, id="w-4", waits=())), (event(),))
    counts = await store.attention_counts(T0 + 200)
    assert {(c.reason.value, c.count) for c in counts} == {("waiting", 1), ("stalled", 1)}
    assert (await store.load_execution("w-3")).attention_reason(T0 + 200) == AttentionReason.WAITING
    assert await store.count_waiting() == {"checkout": 2}
