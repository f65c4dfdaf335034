"""When an operator's resolve applies (SPEC section 8): the reason it does not, or None.

`decide()` leaves the state unchanged wherever a resolve does not apply; these functions let the
caller tell why beforehand, so it can refuse the request (409) instead of recording nothing.
"""

from __future__ import annotations

from coordinator.core.spec import SagaSpec
from coordinator.core.state import ExecutionState, ExecutionStatus, StepStatus


def step_position(spec: SagaSpec, step_name: str) -> int | None:
    """The index of the step called `step_name`, or None when the saga has no such step."""
    for index, step in enumerate(spec.steps):
        if step.name == step_name:
            return index
    return None


def resolve_problem(spec: SagaSpec, state: ExecutionState, step_name: str) -> str | None:
    """Why resolving step `step_name` of `state` does not apply, or None when it does.

    It applies to a `failed` execution whose step is `compensation_failed`.
    """
    index = step_position(spec, step_name)
    if index is None or index >= len(state.steps):
        return f"saga {spec.name!r} has no step {step_name!r}"
    return resolve_problem_at(state, index)


def resolve_problem_at(state: ExecutionState, index: int) -> str | None:
    """`resolve_problem` for the step at position `index`."""
    if not 0 <= index < len(state.steps):
        return f"execution {state.id!r} has no step at position {index}"
    if state.status is not ExecutionStatus.FAILED:
        return f"execution {state.id!r} is {state.status.value}: only a failed execution can be resolved"
    step = state.steps[index]
    if step.status is not StepStatus.COMPENSATION_FAILED:
        return f"step {step.name!r} is {step.status.value}: only a step whose compensation failed can be resolved"
    return None
