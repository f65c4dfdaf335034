"""What the pivot step (SPEC section 7.2) allows an operator: pure answers the engine turns into 409s.

Once the pivot succeeded the saga only goes forward: a cancel is refused. A pivot whose outcome
stayed unknown ends the execution `failed`; an operator then retries it forward or cancels it,
which rolls back the steps before it.
"""

from __future__ import annotations

from coordinator.core.spec import SagaSpec
from coordinator.core.state import Direction, ExecutionState, ExecutionStatus, StepStatus


def failed_going_forward(state: ExecutionState) -> bool:
    """Whether `state` is `failed` because a forward call failed at or past the pivot (not a compensation)."""
    error = state.error
    return state.status is ExecutionStatus.FAILED and error is not None and error.direction is Direction.ACTION


def pivot_outcome_unknown(spec: SagaSpec, state: ExecutionState) -> bool:
    """Whether `state` ended `failed` at a pivot that may or may not have taken effect."""
    pivot = spec.pivot_index
    if pivot is None or pivot >= len(state.steps) or not failed_going_forward(state):
        return False
    return state.steps[pivot].status is StepStatus.FAILED


def cancel_problem_at(spec: SagaSpec, state: ExecutionState) -> str | None:
    """Why cancelling `state` does not apply, or None when it does.

    It applies to a `running` execution that has not passed its pivot, and to a `failed` one
    stopped at a pivot whose outcome is unknown (the operator chooses to roll back).
    """
    if pivot_outcome_unknown(spec, state):
        return None
    pivot = spec.pivot_index
    passed = pivot is not None and pivot < len(state.steps) and state.steps[pivot].status is StepStatus.SUCCEEDED
    if passed and state.status is not ExecutionStatus.COMPLETED:
        assert pivot is not None
        return (
            f"execution {state.id} is past its pivot step {spec.steps[pivot].name!r}, which succeeded: "
            "it can no longer be rolled back, only carried forward (retry)"
        )
    if state.status.is_terminal:
        return f"execution {state.id} is {state.status.value}; only a running execution can be cancelled"
    return None
