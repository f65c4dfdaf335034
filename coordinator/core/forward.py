"""The forward phase: stages in order (a lone step, or a parallel group's members together),
retries within deadlines; a failure hands over to rollback, or past the pivot ends `failed`."""

from __future__ import annotations

from coordinator.core.actions import DisarmWakeup
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


def _saga_deadline_binds(draft: Draft, index: int) -> bool:
    """The saga deadline bounds the steps before the pivot, and the pivot until an operator
    retried it forward; past the pivot the saga only goes forward, so no deadline rolls it back."""
    pivot = draft.spec.pivot_index
    if pivot is None or index < pivot:
        return True
    return index == pivot and draft.step(pivot).attempt_budget_base == 0


def binding_deadline(draft: Draft, index: int) -> tuple[int, str] | None:
    """The earliest deadline that bounds step `index`, with its name (it bounds a wait for a callback too)."""
    candidates: list[tuple[int, str]] = []
    step_deadline = draft.step(index).deadline_at_ms
    if step_deadline is not None:
        candidates.append((step_deadline, "step"))
    if draft.state.deadline_at_ms is not None and _saga_deadline_binds(draft, index):
        candidates.append((draft.state.deadline_at_ms, "saga"))
    return min(candidates) if candidates else None


def forward_timeout(draft: Draft, index: int, *, at_ms: int | None = None) -> int | None:
    """The timeout of an attempt sent at `at_ms` (default: now), clamped so that no attempt
    outlives a deadline; None if one passed."""
    timeout = draft.step_spec(index).action.timeout_ms
    bound = binding_deadline(draft, index)
    if bound is not None:
        timeout = min(timeout, bound[0] - (draft.now if at_ms is None else at_ms))
    return timeout if timeout > 0 else None


def attempt_forward(draft: Draft, index: int) -> None:
    """Send the next forward attempt of step `index`, unless a deadline, a cancel or a failed sibling forbids it."""
    halted = draft.halted()
    if halted is not None:
        fail_step(draft, index, halted)
        return
    timeout = forward_timeout(draft, index)
    if timeout is None:
        bound = binding_deadline(draft, index)
        kind = bound[1] if bound else "saga"
        fail_step(draft, index, f"{kind} deadline passed before attempt {draft.step(index).attempts + 1}")
        return
    start_attempt(draft, index, Direction.ACTION, timeout)


def on_forward_outcome(draft: Draft, index: int, attempt: int, outcome: StepOutcome) -> None:
    """Apply one forward attempt's outcome: advance, schedule a retry, or fail the step."""
    spec = draft.step_spec(index)
    step = draft.step(index)
    draft.drop_call(index, Direction.ACTION)
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
        advance(draft)  # the stages run in order: the first pending one is the next
        return

    message = f"attempt {attempt}: {outcome.describe()}"
    used = attempt - step.attempt_budget_base
    retryable = outcome.kind is OutcomeKind.RETRYABLE
    retries_left = retryable and spec.retry.allows_another(used)
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
    if draft.halted() is not None:
        fail_step(draft, index, f"{message} (not retried: another member of the group failed)")
        return
    if retries_left:
        delay = retry_delay(draft, index, Direction.ACTION, attempt, spec.retry, outcome.retry_after_ms, nth=used)
        bound = binding_deadline(draft, index)
        if bound is not None and draft.now + delay >= bound[0]:
            fail_step(draft, index, f"{message}; the {bound[1]} deadline passes before attempt {attempt + 1}")
            return
        schedule_retry(draft, index, Direction.ACTION, attempt + 1, delay)
        return
    if retryable:
        message = f"{message} (gave up after {used} attempts)"
    fail_step(draft, index, message)


def advance(draft: Draft) -> None:
    """Move the forward phase on once no call or retry of the current stage is outstanding: the
    next stage, else completion; or the rollback (or, past the pivot, the failure) a cancel or a
    failed step asked for.

    The one place that decides an execution completed: after a step succeeded, and on resuming
    an execution committed between steps.
    """
    state = draft.state
    if state.busy:
        return  # members of the group are still at work (or waiting): the last one to settle moves on
    if draft.pivot_passed() and state.cancel_reason is not None:
        # The cancel arrived while the pivot's call was in flight, and the pivot then succeeded:
        # past the point of no return nothing is rolled back, so the cancel has nothing to do,
        # and the history says so (the operator saw their cancel accepted).
        draft.update(cancel_reason=None)
        pivot = draft.spec.pivot_index
        assert pivot is not None  # pivot_passed()
        draft.record(
            HistoryEventType.CANCEL_WITHDRAWN,
            step=draft.step_spec(pivot).name,
            error="the pivot succeeded while the cancel waited for its call: nothing is rolled back past it",
        )
    if draft.state.cancel_reason is not None:
        begin_rollback(draft, ExecutionError(step=None, message=draft.state.cancel_reason))
        return
    error = draft.state.error
    if error is not None:
        if error.direction is Direction.ACTION:
            end_failed_forward(draft)
        else:
            begin_rollback(draft, error)
        return
    pending = next((i for i, s in enumerate(state.steps) if s.status is StepStatus.PENDING), None)
    if pending is not None:
        start_stage(draft, pending)
        return
    draft.update(status=ExecutionStatus.COMPLETED, wakeup=None, in_flight=None)
    draft.record(HistoryEventType.EXECUTION_COMPLETED)


def start_stage(draft: Draft, index: int) -> None:
    """Start step `index` and, when it is a group member, every pending sibling with it."""
    for member in draft.spec.stage_of(index):
        if draft.state.status is not ExecutionStatus.RUNNING or draft.halted() is not None:
            return  # a member already failed while starting (a passed deadline): start no more
        if draft.step(member).status is StepStatus.PENDING:
            start_step(draft, member)


def stop_step(draft: Draft, index: int, message: str) -> None:
    """Mark step `index` failed for good and record why, without deciding what follows."""
    name = draft.step_spec(index).name
    draft.update_step(index, status=StepStatus.FAILED, finished_at_ms=draft.now, last_error=message)
    draft.record(HistoryEventType.STEP_FAILED, step=name, direction=Direction.ACTION, error=message)


def fail_step(draft: Draft, index: int, message: str) -> None:
    """Step `index` failed for good: record why, then roll back, wait for the group's calls in
    flight first (fail fast), or, at or past a pivot that may have taken effect, end `failed`."""
    stop_step(draft, index, message)
    name = draft.step_spec(index).name
    pivot = draft.spec.pivot_index
    if draft.pivot_passed() or (index == pivot and draft.step(index).effect_possible):
        if index == pivot:
            message = f"the outcome of the pivot step {name!r} is unknown, so it is not rolled back: {message}"
        if draft.state.error is None:
            draft.update(error=ExecutionError(step=name, message=message, direction=Direction.ACTION))
        # A cancel cannot roll back what may be past the point of no return: an operator decides.
        draft.update(cancel_reason=None)
        advance(draft)  # the group's other members carry on; the last to settle ends it `failed`
        return
    error = ExecutionError(step=name, message=message)
    if draft.step_spec(index).group is None:
        begin_rollback(draft, error)
        return
    if draft.state.error is None:
        draft.update(error=error)
    # Fail fast: a member waiting for its retry stops there; the calls in flight finish first. A
    # member waiting for its callback stops too, as a cancel stops it (the wait may last days):
    # its outcome is unknown, so the rollback compensates it, and a late callback finds no wait.
    for wakeup in draft.disarm_wakeups():
        stop_step(draft, wakeup.step, f"stopped before attempt {wakeup.attempt}: step {name!r} failed")
    stop_waits(draft, f"stopped: step {name!r} failed", keep=None)
    advance(draft)


def stop_waits(draft: Draft, reason: str, *, keep: int | None) -> bool:
    """Stop every forward wait but step `keep`'s: each step failed, its outcome unknown (so a
    rollback compensates it). Whether the kept step still waits."""
    kept = False
    for wait in draft.state.waits:
        if wait.direction is not Direction.ACTION:
            continue
        if wait.step == keep:
            kept = True
            continue
        draft.drop_wait(wait.step, wait.direction)
        draft.act(DisarmWakeup(step=wait.step, direction=wait.direction))
        draft.update_step(wait.step, effect_possible=True)
        draft.update_step(wait.step, status=StepStatus.FAILED, finished_at_ms=draft.now, last_error=reason)
        draft.record(
            HistoryEventType.STEP_FAILED,
            step=draft.step_spec(wait.step).name,
            direction=Direction.ACTION,
            error=f"{reason} while waiting for the callback of attempt {wait.attempt} (its outcome is unknown)",
        )
    return kept


def end_failed_forward(draft: Draft) -> None:
    """Past the pivot (or at a pivot whose outcome is unknown) a step failed for good: the
    execution ends `failed`, for an operator to retry it forward."""
    error = draft.state.error
    assert error is not None  # set by fail_step before it asks to end
    draft.update(status=ExecutionStatus.FAILED)
    draft.record(HistoryEventType.EXECUTION_FAILED, step=error.step, direction=Direction.ACTION, error=error.message)


def retry_forward(draft: Draft) -> None:
    """Operator retry of an execution that failed going forward: every failed step runs again
    from its next attempt, with a fresh budget and a fresh step deadline."""
    for index, step in enumerate(draft.state.steps):
        if step.status is StepStatus.FAILED:
            draft.update_step(
                index,
                status=StepStatus.PENDING,
                attempt_budget_base=step.attempts,
                deadline_at_ms=None,
                finished_at_ms=None,
            )
    draft.update(status=ExecutionStatus.RUNNING, error=None)
    draft.record(HistoryEventType.RETRY_REQUESTED, direction=Direction.ACTION)
    advance(draft)
