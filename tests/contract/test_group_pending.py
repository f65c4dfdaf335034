"""Several pending actions per execution (parallel group members): each kept per step and direction."""

from __future__ import annotations

from dataclasses import replace

from coordinator.core.state import (
    Direction,
    ExecutionError,
    ExecutionState,
    ExecutionStatus,
    InFlightCall,
    PendingWakeup,
    StepState,
    StepStatus,
)

from .conftest import Backend
from .factories import T0, event, record


def group_state(execution_id: str) -> ExecutionState:
    """Three members at work: two calls in flight, one waiting for its retry."""
    return ExecutionState(
        id=execution_id,
        saga="checkout",
        version=1,
        status=ExecutionStatus.RUNNING,
        steps=(
            StepState(name="reserve", status=StepStatus.SUCCEEDED, attempts=1, effect_possible=True),
            StepState(name="charge", status=StepStatus.RUNNING, attempts=1, started_at_ms=T0 + 5),
            StepState(name="book", status=StepStatus.RUNNING, attempts=2, attempt_budget_base=1, started_at_ms=T0 + 5),
            StepState(name="notify", status=StepStatus.RUNNING, attempts=1, started_at_ms=T0 + 5),
        ),
        created_at_ms=T0,
        updated_at_ms=T0 + 9,
        member_calls=(
            InFlightCall(step=1, direction=Direction.ACTION, attempt=1, timeout_ms=1_000, started_at_ms=T0 + 5),
            InFlightCall(step=2, direction=Direction.ACTION, attempt=2, timeout_ms=2_000, started_at_ms=T0 + 8),
        ),
        member_wakeups=(PendingWakeup(step=3, direction=Direction.ACTION, attempt=2, due_at_ms=T0 + 900),),
    )


async def test_every_member_call_and_wakeup_is_kept_and_reads_back(backend: Backend) -> None:
    store = backend.store
    created, _ = await store.create_execution(record(group_state("g-1")), (event(),))
    loaded = await store.load_execution("g-1")
    assert loaded.state == created.state == group_state("g-1")
    assert [(r["kind"], r["step"], r["attempt"], r["due_at_ms"]) for r in backend.pending_actions("g-1")] == [
        ("member_call", 1, 1, T0 + 1_005),
        ("member_call", 2, 2, T0 + 2_008),
        ("member_wakeup", 3, 2, T0 + 900),
    ]


async def test_a_commit_rewrites_only_the_members_that_changed(backend: Backend) -> None:
    store = backend.store
    for execution_id, diff in (("with", True), ("without", False)):
        created, _ = await store.create_execution(record(group_state(execution_id)), (event(),))
        before = created.state
        # charge answered and now waits for a retry; book's call is still in flight; notify fired.
        after = replace(
            before,
            member_calls=(
                before.member_calls[1],
                InFlightCall(step=3, direction=Direction.ACTION, attempt=2, timeout_ms=500, started_at_ms=T0 + 900),
            ),
            member_wakeups=(PendingWakeup(step=1, direction=Direction.ACTION, attempt=2, due_at_ms=T0 + 1_500),),
            updated_at_ms=T0 + 900,
            error=ExecutionError(step="charge", message="past the pivot", direction=Direction.ACTION),
        )
        committed = await store.commit(after, (event(),), expected_revision=0, previous=before if diff else None)
        loaded = (await store.load_execution(execution_id)).state
        assert loaded == committed
        assert {(c.step, c.attempt) for c in loaded.member_calls} == {(2, 2), (3, 2)}
        assert loaded.error is not None and loaded.error.direction is Direction.ACTION
        kinds = [(r["kind"], r["step"]) for r in backend.pending_actions(execution_id)]
        assert kinds == [("member_wakeup", 1), ("member_call", 2), ("member_call", 3)]

        idle = replace(committed, member_calls=(), member_wakeups=(), status=ExecutionStatus.FAILED)
        await store.commit(idle, (event(),), expected_revision=1, previous=committed if diff else None)
        assert backend.pending_actions(execution_id) == []
