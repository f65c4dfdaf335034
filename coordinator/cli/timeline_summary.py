"""The timeline's last lines: how the execution ended (or where it stands) and why, in one line,
then what the operator may do next, when something is theirs to do.

    compensated: charge failed (HTTP 402: card declined); undone: book_courier, reserve
    completed: reserve → [charge | book_courier] → ship → confirm (2 retries)
    failed going forward: confirm failed (HTTP 503: …); nothing is rolled back past ship; still in effect: …

A pure function of its arguments, like the timeline it ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from coordinator.cli.next_steps import next_commands
from coordinator.cli.shape import SagaShape
from coordinator.cli.symbols import WARNING, Look, paint, status_look
from coordinator.cli.waiting import waiting_for
from coordinator.client.models import NextAttempt
from coordinator.core.history import HistoryEventType
from coordinator.core.state import Direction, ExecutionStatus, StepStatus

__all__ = ["entry_type", "has_ended", "render_summary"]

_ATTEMPT_PREFIX = re.compile(r"^(compensation )?attempt \d+: ")
_STEP_STATUSES = (StepStatus.SUCCEEDED, StepStatus.COMPENSATED, StepStatus.COMPENSATION_FAILED, StepStatus.RUNNING)


def render_summary(
    execution: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    *,
    shape: SagaShape,
    now: datetime | None,
    color: bool,
) -> str:
    """The summary line (and the operator's hint under it) of `execution`, whose history is
    `events` in order; `shape` says its groups and pivot, `now` counts down a waiting retry."""
    return _Summary(execution, events, shape, now, color).render()


def entry_type(event: Mapping[str, Any]) -> HistoryEventType | None:
    """A history entry's type; None for a type this version does not know (a newer server's)."""
    try:
        return HistoryEventType(str(event.get("type")))
    except ValueError:
        return None


def has_ended(status: str) -> bool:
    """Whether the execution has ended (an unknown status has not, as far as we can tell)."""
    try:
        return ExecutionStatus(status).is_terminal
    except ValueError:
        return False


class _Summary:
    def __init__(
        self,
        execution: Mapping[str, Any],
        events: Sequence[Mapping[str, Any]],
        shape: SagaShape,
        now: datetime | None,
        color: bool,
    ) -> None:
        self.execution = execution
        self.events = events
        self.shape = shape
        self.now = now
        self.color = color
        self.waiting = NextAttempt.from_json(execution.get("next_attempt"))

    def render(self) -> str:
        ex = self.execution
        status = str(ex.get("status", "?"))
        steps = [s for s in ex.get("steps") or [] if isinstance(s, Mapping)]
        named = {st: [str(s.get("name")) for s in steps if s.get("status") == st] for st in _STEP_STATUSES}
        retries = sum(1 for e in self.events if entry_type(e) is HistoryEventType.RETRY_SCHEDULED)
        look = status_look(status).emphasised()
        if status == ExecutionStatus.COMPLETED:
            text = f"completed: {self.shape.chain(named[StepStatus.SUCCEEDED]) or 'no steps'}"
            if retries:
                text += f" ({retries} {'retry' if retries == 1 else 'retries'})"
            return self._paint(text, look)
        if status == ExecutionStatus.RUNNING:
            if self.waiting is not None:
                return self._paint(f"running: {waiting_for(self.waiting, self.now)}", look) + self._hint()
            running = [s for s in steps if s.get("status") == StepStatus.RUNNING]
            now = [f"{s.get('name')} (attempt {s.get('attempts')})" for s in running]
            return self._paint(f"running: {', '.join(now) or 'between steps'}", look)
        error = ex.get("error") or {}
        if status == ExecutionStatus.FAILED and error.get("direction") == Direction.ACTION:
            return self._paint(self._forward_failure(error, named[StepStatus.SUCCEEDED]), look) + self._hint()
        # compensating, compensated or failed: say why the rollback began, then what it undid
        undone = list(reversed(named[StepStatus.COMPENSATED]))  # rollback goes newest first
        succeeded = named[StepStatus.SUCCEEDED]
        parts = [f"{status}: {self._rollback_reason()}", f"undone: {', '.join(undone) or 'nothing'}"]
        if status == ExecutionStatus.COMPENSATED and succeeded:
            parts.append(f"kept (no compensation): {', '.join(succeeded)}")
        if status == ExecutionStatus.FAILED:
            stuck = ", ".join(named[StepStatus.COMPENSATION_FAILED]) or str(error.get("step"))
            parts.append(f"could not undo: {stuck}")
            if succeeded:
                parts.append(f"still in effect: {', '.join(succeeded)}")
        summary = self._paint("; ".join(parts), look)
        if status == ExecutionStatus.COMPENSATING and self.waiting is not None:
            summary += "\n" + self._paint(waiting_for(self.waiting, self.now), WARNING)
        return summary + self._hint()

    def _forward_failure(self, error: Mapping[str, Any], succeeded: Sequence[str]) -> str:
        """A step failed at or past the pivot: nothing was undone, so what stands is the point."""
        parts = [f"failed going forward: {_reason(error.get('step'), error.get('message'))}"]
        if self.shape.pivot and error.get("step") != self.shape.pivot:
            parts.append(f"nothing is rolled back past {self.shape.pivot}")
        if succeeded:
            parts.append(f"still in effect: {', '.join(succeeded)}")
        return "; ".join(parts)

    def _hint(self) -> str:
        """What the operator may do next (the same lines `saga get` prints), each on its own line."""
        ex = self.execution
        steps = [s for s in ex.get("steps") or [] if isinstance(s, Mapping)]
        stuck = [str(s.get("name")) for s in steps if s.get("status") == StepStatus.COMPENSATION_FAILED]
        error = ex.get("error") or {}
        if not stuck and error.get("step"):
            stuck = [str(error["step"])]
        waiting = self.waiting.direction if self.waiting is not None else None
        forward = str(error["step"]) if error.get("direction") == Direction.ACTION and error.get("step") else None
        status = str(ex.get("status"))
        lines = next_commands(
            str(ex.get("id", "?")), status, stuck, waiting, failed_forward=forward, pivot=self.shape.pivot
        )
        look = status_look(status).emphasised()
        return "".join("\n" + self._paint(line, look) for line in lines)

    def _rollback_reason(self) -> str:
        """Why the rollback began: the first `rollback_started`, else the execution's error."""
        for event in self.events:
            if entry_type(event) is HistoryEventType.ROLLBACK_STARTED:
                return _reason(event.get("step"), event.get("error"))
        error = self.execution.get("error") or {}
        return _reason(error.get("step"), error.get("message"))

    def _paint(self, text: str, look: Look) -> str:
        return paint(text, look, color=self.color)


def _reason(step: Any, message: Any) -> str:
    """`charge failed (HTTP 402: card declined)`, without the attempt number the lines already show."""
    text = _ATTEMPT_PREFIX.sub("", str(message)) if message else "unknown reason"
    return f"{step} failed ({text})" if step else text
