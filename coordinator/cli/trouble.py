"""The one line `saga ls` shows for an execution in trouble: what is going wrong now, cut so that
the reason (at the end of an error) survives."""

from __future__ import annotations

from coordinator.client.models import Execution, ExecutionStatus
from coordinator.core.state import StepStatus

__all__ = ["current_trouble", "cut_middle"]

_ELLIPSIS = "…"


def current_trouble(execution: Execution) -> str | None:
    """What is going wrong now, `step: error`; None when nothing is.

    While a rollback is under way the forward cause (`execution.error`) is old news: the
    compensation that fails and is retried is the trouble, so its error comes first.
    """
    waiting = execution.next_attempt
    if waiting is not None and waiting.reason:
        return f"{waiting.step}: {waiting.reason}"
    if execution.status is ExecutionStatus.COMPENSATING:
        for step in execution.steps:
            if step.status == StepStatus.COMPENSATING and step.last_error and step.compensation_attempts:
                return f"{step.name}: {step.last_error}"
    return None if execution.error is None else str(execution.error)


def cut_middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, cutting its middle: an error starts with where it
    happened and ends with why, and both are worth keeping."""
    if len(text) <= width:
        return text
    head = max(1, (width - 1) // 3)
    tail = width - 1 - head
    return text[:head].rstrip() + _ELLIPSIS + text[len(text) - tail :].lstrip()
