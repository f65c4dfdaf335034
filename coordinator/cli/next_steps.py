"""What an operator may do next with an execution: the one place that decides it, so `get`,
`watch` and `start --wait` suggest the same commands for the same state."""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.core.state import Direction, ExecutionStatus

__all__ = ["next_commands"]


def next_commands(
    execution_id: str,
    status: str,
    stuck_steps: Sequence[str],
    waiting_direction: str | None,
    *,
    failed_forward: str | None = None,
    pivot: str | None = None,
) -> list[str]:
    """The hint's lines; empty when nothing is the operator's to do.

    Args:
        execution_id: the execution.
        status: its status.
        stuck_steps: the steps whose compensation failed for good (`compensation_failed`).
        waiting_direction: the direction of the retry it waits for, if it waits for one.
        failed_forward: the step whose forward call failed at or past the pivot, when that is why
            the execution is `failed` (`error.direction` is `action`).
        pivot: the saga's pivot step, if it has one.

    `failed` going forward: nothing was rolled back; retry carries the saga on from the failed step,
    and when it was the pivot whose outcome is unknown, cancel rolls back the steps before it.
    `failed` otherwise: retry the compensation once the cause is fixed, or resolve it after undoing the step
    by hand. `running` while a forward call is retried: cancel stops it and rolls back. Nothing
    applies elsewhere (retry and resolve answer 409 outside `failed`, cancel once it rolls back).
    """
    if status == ExecutionStatus.FAILED and failed_forward is not None:
        return _forward_commands(execution_id, failed_forward, pivot)
    if status == ExecutionStatus.FAILED:
        names = ", ".join(stuck_steps) or "a step"
        choices = [("fix the cause, then", f"saga retry {execution_id}")]
        choices += [
            (f"or undo {step} by hand, then", f'saga resolve {execution_id} --step {step} --note "what you did"')
            for step in stuck_steps
        ]
        head = f"needs an operator: the compensation of {names} failed; its effect is still in place"
        return [head, *_aligned(choices)]
    if status == ExecutionStatus.RUNNING and waiting_direction == Direction.ACTION:
        return [f"to stop retrying and roll back:  saga cancel {execution_id}"]
    return []


def _forward_commands(execution_id: str, step: str, pivot: str | None) -> list[str]:
    if step == pivot:
        # Whether the pivot took effect is unknown: the operator finds out, then picks a way.
        head = f"needs an operator: whether {step} (the point of no return) took effect is unknown"
        choices = [
            ("to carry on forward (it is re-sent under its key)", f"saga retry {execution_id}"),
            ("or to roll back the steps before it", f"saga cancel {execution_id}"),
        ]
        return [head, *_aligned(choices)]
    where = f" ({pivot})" if pivot else ""
    head = f"needs an operator: {step} failed past the point of no return{where}; nothing was rolled back"
    return [head, *_aligned([("fix the cause, then carry on forward", f"saga retry {execution_id}")])]


def _aligned(choices: Sequence[tuple[str, str]]) -> list[str]:
    """`  label:  command` lines, the commands in one column."""
    width = max(len(label) for label, _ in choices) + 1
    return [f"  {label + ':':<{width}}  {command}" for label, command in choices]
