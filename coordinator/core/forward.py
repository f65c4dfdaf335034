"""The forward phase: steps in order, retries within deadlines, failure hands over to rollback."""

from __future__ import annotations

from coordinator.core.attempts import keep_exchange, retry_delay, schedule_retry, start_attempt
from coordinator.core.draft import Draft
from coordinator.core.history import HistoryEventType
from coordinator.core.outcome import OutcomeKind, StepOutcome
from coordinator.core.rollback import begin_rollback
from coordinator.core.state import Direction, ExecutionError, ExecutionStatus, StepStatus


def start_step(draft: Draft, index: int) -> None:
    """Begin step `index`: set its own deadline, then send its first attempt."""
    spec = draft.step_spec(index)
    if spec.deadline_ms is not None:
        draft.update_step(index, deadline_at_ms=draft.now + spec.deadline_ms)
    attempt_forward(draft, index)


def _binding_deadline(draft: Draft, index: int) -> tuple[int, str] | None:
    """The earliest deadline that bounds step `index`, with its name."""
    candidates: list[tuple[int, str]] = []
    step_deadline = draft.step(index).deadline_at_ms
    if step_deadline is not None:
        candidates.append((step_deadline, "step"))
    if draft.state.deadline_at_ms is not None:
        candidates.append((draft.state.deadline_at_ms, "saga"))
    return min(candidates) if candidates else None


def forward_timeout(draft: Draft, index: int) -> int | None:
    """The attempt's timeout, clamped so that no attempt outlives a deadline; None if one passed."""
    timeout = draft.step_spec(index).action.timeout_ms
    bound = _binding_deadline(draft, index)
    if bound is not None:
        timeout = min(timeout, bound[0] - draft.now)
    return timeout if timeout > 0 else None


def attempt_forward(draft: Draft, index: int) -> None:
    """Send the next forward attempt of step `index`, unless a deadline or a cancel forbids it."""
    if draft.state.cancel_reason is not None:
        fail_step(draft, index, draft.state.cancel_reason)
        return
    timeout = forward_timeout(draft, index)
    if timeout is None:
        bound = _binding_deadline(draft, index)
        kind = bound[1] if bound else "saga"
        fail_step(draft, index, f"{kind} deadline passed before attempt {draft.step(index).attempts + 1}")
        return
    start_attempt(draft, index, Direction.ACTION, timeout)


def on_forward_outcome(draft: Draft, index: int, attempt: int, outcome: StepOutcome) -> None:
    """Apply one forward attempt's outcome: advance, schedule a retry, or roll back."""
    spec = draft.step_spec(index)
    step = draft.step(index)
    draft.update(in_flight=None)
    keep_exchange(draft, index, Direction.ACTION, attempt, outcome)
    if outcome.kind is OutcomeKind.SUCCESS:
        draft.update_step(
            index,
            status=StepStatus.SUCCEEDED,
            finished_at_ms=draft.now,
            effect_possible=True,
            response=outcome.response,
            last_status_code=outcome.status_code,
            last_error=None,  # an earlier attempt's error no longer describes the step
        )
        draft.record(
            HistoryEventType.ATTEMPT_SUCCEEDED,
            step=spec.name,
            direction=Direction.ACTION,
            attempt=attempt,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            outcome=outcome.label,
            request=outcome.request,
            response=outcome.response,
        )
        advance(draft)  # the steps run in order: the first pending one is the next
        return

    message = f"attempt {attempt}: {outcome.describe()}"
    retryable = outcome.kind is OutcomeKind.RETRYABLE
    retries_left = retryable and spec.retry.allows_another(attempt)
    draft.update_step(
        index,
        effect_possible=step.effect_possible or outcome.took_effect_or_may_have,
        last_error=message,
        last_status_code=outcome.status_code,
    )
    draft.record(
        HistoryEventType.ATTEMPT_FAILED,
        step=spec.name,
        direction=Direction.ACTION,
        attempt=attempt,
        status_code=outcome.status_code,
        error=outcome.describe(),
        duration_ms=outcome.duration_ms,
        outcome=outcome.history_label(retries_spent=retryable and not retries_left),
        request=outcome.request,
        response=outcome.response,
    )
    if draft.state.cancel_reason is not None:
        fail_step(draft, index, draft.state.cancel_reason)
        return
    if retries_left:
        delay = retry_delay(draft, index, Direction.ACTION, attempt, spec.retry, outcome.retry_after_ms)
        bound = _binding_deadline(draft, index)
        if bound is not None and draft.now + delay >= bound[0]:
            fail_step(draft, index, f"{message}; the {bound[1]} deadline passes before attempt {attempt + 1}")
            return
        schedule_retry(draft, index, Direction.ACTION, attempt + 1, delay)
        return
    if retryable:
        message = f"{message} (gave up after {attempt} attempts)"
    fail_step(draft, index, message)


def advance(draft: Draft) -> None:
    """Move the forward phase on: the first pending step, else completion; or the rollback a cancel asked for.

    The one place that decides an execution completed: after a step succeeded, and on resuming
    an execution committed between steps.
    """
    if draft.state.cancel_reason is not None:
        begin_rollback(draft, ExecutionError(step=None, message=draft.state.cancel_reason))
        return
    pending = next((i for i, s in enumerate(draft.state.steps) if s.status is StepStatus.PENDING), None)
    if pending is not None:
        start_step(draft, pending)
        return
    draft.update(status=ExecutionStatus.COMPLETED, wakeup=None, in_flight=None)
    draft.record(HistoryEventType.EXECUTION_COMPLETED)


def fail_step(draft: Draft, index: int, message: str) -> None:
    """Step `index` failed for good: record why, and roll back."""
    name = draft.step_spec(index).name
    draft.update_step(index, status=StepStatus.FAILED, finished_at_ms=draft.now, last_error=message)
    draft.record(HistoryEventType.STEP_FAILED, step=name, direction=Direction.ACTION, error=message)
    begin_rollback(draft, ExecutionError(step=name, message=message))
