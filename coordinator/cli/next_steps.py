"""What an operator may do next with an execution: the one place that decides it, so `get`,
`watch` and `start --wait` suggest the same commands for the same state."""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.core.state import Direction, ExecutionStatus

__all__ = ["next_commands"]


def next_commands(
    execution_id: str, status: str, stuck_steps: Sequence[str], waiting_direction: str | None
) -> list[str]:
    """The hint's lines; empty when nothing is the operator's to do.

    Args:
        execution_id: the execution.
        status: its status.
        stuck_steps: the steps whose compensation failed for good (`compensation_failed`).
        waiting_direction: the direction of the retry it waits for, if it waits for one.

    `failed`: retry the compensation once the cause is fixed, or resolve it after undoing the step
    by hand. `running` while a forward call is retried: cancel stops it and rolls back. Nothing
    applies elsewhere (retry and resolve answer 409 outside `failed`, cancel once it rolls back).
    """
    if status == ExecutionStatus.FAILED:
        names = ", ".join(stuck_steps) or "a step"
        choices = [("fix the cause, then", f"saga retry {execution_id}")]
        choices += [
            (f"or undo {step} by hand, then", f'saga resolve {execution_id} --step {step} --note "what you did"')
            for step in stuck_steps
        ]
        width = max(len(label) for label, _ in choices) + 1
        head = f"needs an operator: the compensation of {names} failed; its effect is still in place"
        return [head, *(f"  {label + ':':<{width}}  {command}" for label, command in choices)]
    if status == ExecutionStatus.RUNNING and waiting_direction == Direction.ACTION:
        return [f"to stop retrying and roll back:  saga cancel {execution_id}"]
    return []
