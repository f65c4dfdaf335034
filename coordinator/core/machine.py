"""`decide()`: the pure saga state machine the engine drives.

Late or duplicate events (an outcome for an attempt that is no longer in flight, a wake-up that
was superseded) return the state unchanged; they never raise. Terminal states absorb everything
except an operator retry or resolve of `failed`.
"""

from __future__ import annotations

from coordinator.core.actions import ArmWakeup, Decision
from coordinator.core.attempts import send_call, start_attempt
from coordinator.core.draft import Draft
from coordinator.core.events import (
    AttemptCompleted,
    CallbackReceived,
    CancelRequested,
    Event,
    HeartbeatReceived,
    ResolveRequested,
    Resumed,
    RetryRequested,
    WakeupFired,
)
from coordinator.core.forward import (
    advance,
    attempt_forward,
    fail_step,
    forward_timeout,
    on_forward_outcome,
    retry_forward,
    start_stage,
    stop_step,
    stop_waits,
)
from coordinator.core.history import HistoryEventType
from coordinator.core.outcome import OutcomeKind, StepOutcome
from coordinator.core.pivot import failed_going_forward, pivot_outcome_unknown
from coordinator.core.resolve import resolve_problem_at
from coordinator.core.rollback import (
    begin_rollback,
    next_compensation,
    on_compensation_outcome,
    resolve_compensation,
    retry_compensations,
)
from coordinator.core.spec import SagaSpec
from coordinator.core.state import (
    Direction,
    ExecutionError,
    ExecutionState,
    ExecutionStatus,
    InFlightCall,
    PendingWait,
    PendingWakeup,
    StepState,
)
from coordinator.core.waiting import enter_wait, on_callback, on_heartbeat, on_wait_due, starts_wait


def begin_execution(spec: SagaSpec, execution_id: str, *, now_ms: int) -> Decision:
    """The first decision of a new execution: its initial state and its first call."""
    state = ExecutionState(
        id=execution_id,
        saga=spec.name,
        version=spec.version,
        status=ExecutionStatus.RUNNING,
        steps=tuple(StepState(name=s.name) for s in spec.steps),
        created_at_ms=now_ms,
        updated_at_ms=now_ms,
        deadline_at_ms=now_ms + spec.deadline_ms if spec.deadline_ms is not None else None,
    )
    draft = Draft(spec, state, now_ms)
    draft.record(HistoryEventType.EXECUTION_STARTED)
    start_stage(draft, 0)
    return draft.decision()


def decide(spec: SagaSpec, state: ExecutionState, event: Event, *, now_ms: int) -> Decision:
    """Apply `event` to `state` at time `now_ms`; return the new state, actions and history."""
    draft = Draft(spec, state, now_ms)
    if isinstance(event, RetryRequested):
        if state.status is ExecutionStatus.FAILED:
            if failed_going_forward(state):
                retry_forward(draft)
            else:
                retry_compensations(draft)
        return draft.decision()
    if isinstance(event, CancelRequested) and pivot_outcome_unknown(spec, state):
        _cancel_at_unknown_pivot(draft, event)
        return draft.decision()
    if isinstance(event, ResolveRequested):
        if resolve_problem_at(state, event.step) is None:
            resolve_compensation(draft, event.step, event.note, event.actor, event.rollback_cause)
        return draft.decision()
    if state.status.is_terminal:
        return draft.decision()
    match event:
        case AttemptCompleted():
            _on_attempt_completed(draft, event)
        case WakeupFired():
            _on_wakeup(draft, event)
        case CallbackReceived():
            if 0 <= event.step < len(state.steps):
                on_callback(draft, event)
        case HeartbeatReceived():
            if 0 <= event.step < len(state.steps):
                on_heartbeat(draft, event)
        case CancelRequested():
            _on_cancel(draft, event)
        case Resumed():
            _on_resumed(draft, event)
    return draft.decision()


def _on_attempt_completed(draft: Draft, event: AttemptCompleted) -> None:
    if not 0 <= event.step < len(draft.state.steps):
        return
    current = draft.state.call_of(event.step, event.direction)
    if current is None or current.attempt != event.attempt:
        return  # late or duplicate: that attempt is no longer the one we wait for
    if starts_wait(draft, event.step, event.direction, event.outcome):
        enter_wait(draft, event.step, event.direction, event.attempt, event.outcome)
        if event.direction is Direction.ACTION and draft.halted() is not None:
            # The 202 came after a cancel or a sibling's failure: the wait ends at once, as the
            # waits under way then did (outcome unknown, compensated); only the pivot's goes on.
            state = draft.state
            error = state.error
            reason = state.cancel_reason or f"stopped: step {error.step if error else None!r} failed"
            if not stop_waits(draft, reason, keep=draft.spec.pivot_index):
                advance(draft)
        return
    if event.direction is Direction.ACTION:
        on_forward_outcome(draft, event.step, event.attempt, event.outcome)
    else:
        on_compensation_outcome(draft, event.step, event.attempt, event.outcome)


def _on_wakeup(draft: Draft, event: WakeupFired) -> None:
    if not 0 <= event.step < len(draft.state.steps):
        return
    wait = draft.state.wait_of(event.step, event.direction)
    if wait is not None:
        if wait.attempt == event.attempt:
            on_wait_due(draft, wait)
        return  # a wait and a scheduled retry of one call never coexist: this wake-up is stale
    wakeup = draft.state.wakeup_of(event.step, event.direction)
    if wakeup is None or wakeup.attempt != event.attempt:
        return  # superseded: a cancel or a restart re-armed something else
    draft.drop_wakeup(event.step, event.direction)
    if event.direction is Direction.ACTION:
        attempt_forward(draft, event.step)
    else:
        compensation = draft.step_spec(event.step).compensation
        assert compensation is not None  # only compensable steps are compensated
        start_attempt(draft, event.step, Direction.COMPENSATION, compensation.timeout_ms)


def _on_cancel(draft: Draft, event: CancelRequested) -> None:
    state = draft.state
    if state.status is not ExecutionStatus.RUNNING or state.cancel_reason is not None:
        return  # already rolling back, or already asked
    if draft.pivot_passed() or draft.halted() is not None:
        return  # past the point of no return (the API refused it), or the rollback already follows
    draft.update(cancel_reason=event.reason)
    draft.record(HistoryEventType.CANCEL_REQUESTED, error=event.reason)
    waiting = draft.disarm_wakeups()
    for wakeup in waiting[:-1]:
        stop_step(draft, wakeup.step, event.reason)
    # A wait for a callback may last days: it stops here, its outcome unknown (compensated). Only
    # the pivot's goes on: what may be past the point of no return is not undone on a guess.
    kept = stop_waits(draft, event.reason, keep=draft.spec.pivot_index)
    if state.calls or kept:
        # The calls in flight (and the pivot's wait) finish or time out; the last outcome starts
        # the rollback.
        if waiting:
            stop_step(draft, waiting[-1].step, event.reason)
        return
    if waiting:
        fail_step(draft, waiting[-1].step, event.reason)
        return
    begin_rollback(draft, ExecutionError(step=None, message=event.reason))


def _cancel_at_unknown_pivot(draft: Draft, event: CancelRequested) -> None:
    """An operator chose to roll back the steps before a pivot whose outcome stayed unknown."""
    draft.update(cancel_reason=event.reason)
    draft.record(HistoryEventType.CANCEL_REQUESTED, error=event.reason)
    begin_rollback(draft, ExecutionError(step=None, message=event.reason))


def wakeups_to_arm(state: ExecutionState) -> tuple[ArmWakeup, ...]:
    """The timers a process driving `state` must have armed: each scheduled retry, and each wait's
    next deadline (the participant still holds its callback URL: the wait goes on)."""
    timers: list[PendingWakeup | PendingWait] = [*state.wakeups, *state.waits]
    return tuple(
        ArmWakeup(step=w.step, direction=w.direction, attempt=w.attempt, due_at_ms=w.due_at_ms) for w in timers
    )


RESEND_MARGIN_MS = 1_000
"""Waited past a cut-off send's deadline before sending it again: room for the clocks of two
replicas to differ, and for the first send's last bytes."""


def _on_resumed(draft: Draft, event: Resumed) -> None:
    state = draft.state
    if state.busy:
        # Wake-ups first: a re-sent call's outcome may yet disarm them (fail fast).
        for arm in wakeups_to_arm(state):
            draft.act(arm)
        for call in state.calls:
            if (call.step, call.direction, call.attempt) not in event.sending:
                _resume_in_flight(draft, call, hold=event.others_may_be_sending)
    elif state.status is ExecutionStatus.RUNNING:
        advance(draft)  # committed between steps without a pending action: continue where it stood
    else:
        next_compensation(draft)


def _resume_in_flight(draft: Draft, call: InFlightCall, *, hold: bool) -> None:
    """An attempt was recorded as started but its outcome never was: send it again, same key; with
    `hold`, once the first send is surely over.

    A process that sent it gave up at `started_at_ms + timeout_ms` (the executor counts the
    deadline from the write-ahead), but a participant does not stop when its caller dies: until
    then, a re-send would put two attempts of the step in flight at once (SPEC §3).
    """
    name = draft.step_spec(call.step).name
    resend_at = draft.now
    if hold:
        resend_at = max(resend_at, call.started_at_ms + call.timeout_ms + RESEND_MARGIN_MS)
    if call.direction is Direction.ACTION:
        timeout = forward_timeout(draft, call.step, at_ms=resend_at)
        if timeout is None or draft.halted() is not None:
            # No time (or no wish) to re-send: the request may have gone out, so its effect is unknown.
            reason = "interrupted by a coordinator restart"
            outcome = StepOutcome(kind=OutcomeKind.RETRYABLE, effect_unknown=True, error=reason)
            on_forward_outcome(draft, call.step, call.attempt, outcome)
            return
    else:
        compensation = draft.step_spec(call.step).compensation
        assert compensation is not None  # only compensable steps are compensated
        timeout = compensation.timeout_ms
    draft.put_call(
        InFlightCall(
            step=call.step,
            direction=call.direction,
            attempt=call.attempt,
            timeout_ms=timeout,
            started_at_ms=resend_at,
        )
    )
    held = resend_at - draft.now
    draft.record(
        HistoryEventType.ATTEMPT_RESENT,
        step=name,
        direction=call.direction,
        attempt=call.attempt,
        delay_ms=held if held > 0 else None,
    )
    send_call(draft, call.step, call.direction, call.attempt, timeout, started_at_ms=resend_at)
