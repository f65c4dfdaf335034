"""The rollback phase: compensate, newest first, every step that took or may have taken effect."""

from __future__ import annotations

from coordinator.core.attempts import keep_exchange, retry_delay, schedule_retry, start_attempt
from coordinator.core.draft import Draft
from coordinator.core.history import HistoryEventType
from coordinator.core.outcome import OutcomeKind, StepOutcome
from coordinator.core.state import Direction, ExecutionError, ExecutionStatus, OperatorResolution, StepStatus


def begin_rollback(draft: Draft, error: ExecutionError) -> None:
    """Stop the forward phase and start compensating."""
    draft.disarm_wakeups()
    draft.update(status=ExecutionStatus.COMPENSATING, error=error)
    for i, step in enumerate(draft.state.steps):
        if step.status is StepStatus.PENDING:
            draft.update_step(i, status=StepStatus.SKIPPED)
    draft.record(HistoryEventType.ROLLBACK_STARTED, step=error.step, error=error.message)
    next_compensation(draft)


def needs_compensation(draft: Draft, index: int) -> bool:
    """Whether step `index` took or may have taken effect and is not undone yet."""
    step = draft.step(index)
    return (
        step.effect_possible
        and draft.step_spec(index).compensation is not None
        and step.status is not StepStatus.COMPENSATED
    )


def next_compensation(draft: Draft) -> None:
    """Compensate the newest stage that needs it (a group's members together), or finish the rollback."""
    state = draft.state
    for stage in reversed(draft.spec.stages()):
        todo = [index for index in stage if needs_compensation(draft, index)]
        if not todo:
            continue
        for index in todo:
            if (
                state.call_of(index, Direction.COMPENSATION)
                or state.wakeup_of(index, Direction.COMPENSATION)
                or state.wait_of(index, Direction.COMPENSATION)
            ):
                continue  # already at work: its outcome or wake-up carries it on
            compensation = draft.step_spec(index).compensation
            assert compensation is not None  # needs_compensation checked it
            start_attempt(draft, index, Direction.COMPENSATION, compensation.timeout_ms)
        return
    draft.update(status=ExecutionStatus.COMPENSATED, in_flight=None, wakeup=None, waits=())
    draft.record(HistoryEventType.EXECUTION_COMPENSATED)


def continue_rollback(draft: Draft) -> None:
    """After a compensation settled: wait for the group's other compensations, then end `failed`
    if one of them gave up, else move on to the steps before (newest first)."""
    state = draft.state
    if state.busy:
        return  # members of the group are still being compensated
    if any(step.status is StepStatus.COMPENSATION_FAILED for step in state.steps):
        error = state.error
        assert error is not None  # set when the compensation gave up
        draft.update(status=ExecutionStatus.FAILED)
        draft.record(HistoryEventType.EXECUTION_FAILED, step=error.step, error=error.message)
        return
    next_compensation(draft)


def on_compensation_outcome(draft: Draft, index: int, attempt: int, outcome: StepOutcome) -> None:
    """Apply one compensation attempt's outcome: next compensation, a retry, or `failed`."""
    spec = draft.step_spec(index)
    step = draft.step(index)
    draft.drop_call(index, Direction.COMPENSATION)
    keep_exchange(draft, index, Direction.COMPENSATION, attempt, outcome)
    if outcome.kind is OutcomeKind.SUCCESS:
        draft.update_step(
            index,
            status=StepStatus.COMPENSATED,
            finished_at_ms=draft.now,
            last_status_code=outcome.status_code,
        )
        draft.record(
            HistoryEventType.ATTEMPT_SUCCEEDED,
            step=spec.name,
            direction=Direction.COMPENSATION,
            attempt=attempt,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            outcome=outcome.label,
            request=outcome.request,
            response=outcome.response,
        )
        continue_rollback(draft)
        return

    message = f"compensation attempt {attempt}: {outcome.describe()}"
    used = attempt - step.compensation_budget_base
    # Any answer but success is retried: a compensation has no business "no" that ends it.
    retried = outcome.kind is not OutcomeKind.INVALID
    retries_left = retried and spec.compensation_retry.allows_another(used)
    draft.update_step(index, last_error=message, last_status_code=outcome.status_code)
    draft.record(
        HistoryEventType.ATTEMPT_FAILED,
        step=spec.name,
        direction=Direction.COMPENSATION,
        attempt=attempt,
        status_code=outcome.status_code,
        error=outcome.describe(),
        duration_ms=outcome.duration_ms,
        outcome=outcome.history_label(retries_spent=retried and not retries_left),
        request=outcome.request,
        response=outcome.response,
    )
    if retries_left:
        delay = retry_delay(
            draft, index, Direction.COMPENSATION, attempt, spec.compensation_retry, outcome.retry_after_ms
        )
        schedule_retry(draft, index, Direction.COMPENSATION, attempt + 1, delay)
        return
    draft.update_step(index, status=StepStatus.COMPENSATION_FAILED, finished_at_ms=draft.now)
    # The count is every attempt, as the step's `compensation_attempts` says; after an operator's
    # retry or resolve the budget restarted, so the round's own count is named too.
    count = (
        f"{attempt} attempt(s)"
        if used == attempt
        else f"{attempt} attempt(s) in all, {used} since the operator's retry"
    )
    error = ExecutionError(
        step=spec.name, message=f"compensation of step {spec.name!r} failed after {count}: {outcome.describe()}"
    )
    draft.update(error=error)
    continue_rollback(draft)


def retry_compensations(draft: Draft) -> None:
    """Operator retry of a `failed` execution: a fresh budget for every compensation left."""
    _refresh_budgets(draft)
    draft.update(status=ExecutionStatus.COMPENSATING)
    draft.record(HistoryEventType.RETRY_REQUESTED)
    next_compensation(draft)


def resolve_compensation(
    draft: Draft, index: int, note: str, actor: str | None, rollback_cause: ExecutionError | None = None
) -> None:
    """Operator resolve: step `index`'s compensation was done by hand; roll back the steps before it.

    The caller checked that the execution is `failed` and the step `compensation_failed`
    (`core.resolve.resolve_problem`). The compensation's failure is no longer the execution's
    problem: it stays in the history and on the step (its `resolution`), and `error` says again why
    the execution is rolled back (`rollback_cause`), as for any rollback, until another
    compensation fails for good (that is then the error).
    """
    name = draft.step_spec(index).name
    draft.update_step(
        index,
        status=StepStatus.COMPENSATED,
        finished_at_ms=draft.now,
        resolution=OperatorResolution(note=note, actor=actor, at_ms=draft.now),
    )
    # Any other compensation left failed gets a fresh budget, as an operator retry would give it.
    _refresh_budgets(draft)
    if rollback_cause is not None:
        draft.update(error=rollback_cause)
    draft.update(status=ExecutionStatus.COMPENSATING)
    draft.record(
        HistoryEventType.COMPENSATION_RESOLVED, step=name, direction=Direction.COMPENSATION, note=note, actor=actor
    )
    next_compensation(draft)


def _refresh_budgets(draft: Draft) -> None:
    for i, step in enumerate(draft.state.steps):
        if step.status is StepStatus.COMPENSATION_FAILED:
            draft.update_step(i, compensation_budget_base=step.compensation_attempts)
