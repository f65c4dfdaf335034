"""Asynchronous completion (SPEC section 7.3): a `202` makes the step wait for its callback.

A wait is an attempt still under way, held in the state with its deadlines (`PendingWait`), so it
survives a restart and any replica can record its callback. Its end feeds the same outcome paths
as a synchronous answer: a `succeeded` callback is a success whose body later templates read, a
`failed` one a fatal outcome with nothing to undo, and a timeout (or a missed heartbeat) an
unknown outcome, retried with a new attempt or compensated.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from coordinator.core.actions import ArmWakeup, DisarmWakeup
from coordinator.core.attempts import keep_exchange
from coordinator.core.draft import Draft
from coordinator.core.events import CallbackReceived, HeartbeatReceived
from coordinator.core.forward import binding_deadline, on_forward_outcome
from coordinator.core.history import HistoryEventType
from coordinator.core.outcome import OutcomeKind, ResponseSnapshot, StepOutcome
from coordinator.core.rollback import on_compensation_outcome
from coordinator.core.spec import CallSpec
from coordinator.core.state import (
    CallbackOutcome,
    Direction,
    ExecutionState,
    PendingWait,
    RecordedCallback,
    StepStatus,
)

ACCEPTED_STATUS = 202
"""The answer that means "accepted, I will call back" from a step declared `async`."""


def call_spec(draft: Draft, index: int, direction: Direction) -> CallSpec | None:
    """The call of step `index` in `direction` (None for a step without a compensation)."""
    step = draft.step_spec(index)
    return step.action if direction is Direction.ACTION else step.compensation


def starts_wait(draft: Draft, index: int, direction: Direction, outcome: StepOutcome) -> bool:
    """Whether `outcome` is the `202` of an asynchronous call: the step waits rather than completes."""
    call = call_spec(draft, index, direction)
    return (
        call is not None
        and call.async_ is not None
        and outcome.kind is OutcomeKind.SUCCESS
        and outcome.status_code == ACCEPTED_STATUS
    )


def enter_wait(draft: Draft, index: int, direction: Direction, attempt: int, outcome: StepOutcome) -> None:
    """The participant accepted the attempt with `202`: wait for its callback until the timeout."""
    call = call_spec(draft, index, direction)
    assert call is not None and call.async_ is not None  # starts_wait checked it
    draft.drop_call(index, direction)
    keep_exchange(draft, index, direction, attempt, outcome)
    timeout_at = draft.now + call.async_.timeout_ms
    bound = binding_deadline(draft, index) if direction is Direction.ACTION else None
    if bound is not None:
        timeout_at = max(draft.now, min(timeout_at, bound[0]))  # a deadline bounds the wait as it bounds a call
    due = timeout_at
    if call.async_.heartbeat_ms is not None:
        due = min(due, draft.now + call.async_.heartbeat_ms)
    draft.put_wait(
        PendingWait(
            step=index,
            direction=direction,
            attempt=attempt,
            since_ms=draft.now,
            timeout_at_ms=timeout_at,
            due_at_ms=due,
        )
    )
    draft.update_step(index, status=StepStatus.WAITING, last_status_code=outcome.status_code)
    draft.record(
        HistoryEventType.ATTEMPT_WAITING,
        step=draft.step_spec(index).name,
        direction=direction,
        attempt=attempt,
        status_code=outcome.status_code,
        duration_ms=outcome.duration_ms,
        delay_ms=call.async_.timeout_ms,
        outcome="waiting",
        request=outcome.request,
        response=outcome.response,
    )
    draft.act(ArmWakeup(step=index, direction=direction, attempt=attempt, due_at_ms=due))


def on_callback(draft: Draft, event: CallbackReceived) -> None:
    """Record the participant's outcome of a waiting (or still answering) attempt, then carry on as
    after any answer. A callback for any other attempt changes nothing."""
    state = draft.state
    index, direction, attempt = event.step, event.direction, event.attempt
    wait = state.wait_of(index, direction)
    call = state.call_of(index, direction)
    if wait is not None and wait.attempt == attempt:
        draft.drop_wait(index, direction)
        draft.act(DisarmWakeup(step=index, direction=direction))
    elif call is None or call.attempt != attempt:
        return  # superseded, already settled, or never sent: the API told the caller so
    step = draft.step(index)
    name = draft.step_spec(index).name
    draft.update_step(
        index,
        callbacks=(
            *(c for c in step.callbacks if c.direction is not direction),
            RecordedCallback(direction=direction, attempt=attempt, outcome=event.outcome),
        ),
    )
    draft.record(
        HistoryEventType.CALLBACK_RECEIVED,
        step=name,
        direction=direction,
        attempt=attempt,
        outcome=event.outcome.value,
        error=event.error if event.outcome is CallbackOutcome.FAILED else None,
    )
    exchange = step.last_exchange
    same_attempt = exchange is not None and (exchange.direction, exchange.attempt) == (direction, attempt)
    accepted = exchange if same_attempt else None
    request = accepted.request if accepted is not None else None
    duration = draft.now - wait.since_ms if wait is not None else None
    if event.outcome is CallbackOutcome.SUCCEEDED:
        answer = accepted.response if accepted is not None else None
        response = ResponseSnapshot(
            status=answer.status if answer is not None else ACCEPTED_STATUS,
            headers=dict(answer.headers) if answer is not None else {},
            body=event.body,
        )
        outcome = StepOutcome(
            kind=OutcomeKind.SUCCESS,
            status_code=response.status,
            request=request,
            response=response,
            duration_ms=duration,
        )
    else:
        reason = event.error or "no reason given"
        outcome = StepOutcome(
            kind=OutcomeKind.FATAL,
            error=f"the participant reported failure: {reason}",
            request=request,
            duration_ms=duration,
        )
    _settle(draft, index, direction, attempt, outcome)


def on_heartbeat(draft: Draft, event: HeartbeatReceived) -> None:
    """The participant is still at work: push the heartbeat deadline on (never past the timeout)."""
    wait = draft.state.wait_of(event.step, event.direction)
    if wait is None or wait.attempt != event.attempt:
        return  # not waiting (yet, or any more): nothing to extend
    call = call_spec(draft, event.step, event.direction)
    heartbeat = call.async_.heartbeat_ms if call is not None and call.async_ is not None else None
    due = wait.due_at_ms if heartbeat is None else min(wait.timeout_at_ms, draft.now + heartbeat)
    draft.put_wait(replace(wait, due_at_ms=due))
    draft.record(
        HistoryEventType.HEARTBEAT_RECEIVED,
        step=draft.step_spec(event.step).name,
        direction=event.direction,
        attempt=event.attempt,
    )
    if due != wait.due_at_ms:
        draft.act(ArmWakeup(step=event.step, direction=event.direction, attempt=event.attempt, due_at_ms=due))


def on_wait_due(draft: Draft, wait: PendingWait) -> None:
    """A wait's wake-up fired: early (a heartbeat moved it, elsewhere) re-arm it; else the
    attempt's outcome is unknown."""
    if draft.now < wait.due_at_ms:
        draft.act(ArmWakeup(step=wait.step, direction=wait.direction, attempt=wait.attempt, due_at_ms=wait.due_at_ms))
        return
    call = call_spec(draft, wait.step, wait.direction)
    assert call is not None and call.async_ is not None  # only async calls wait
    draft.drop_wait(wait.step, wait.direction)
    if draft.now >= wait.timeout_at_ms:
        reason = f"no callback within the async timeout ({_shown(call.async_.timeout_ms)})"
    else:
        reason = f"no heartbeat within {_shown(call.async_.heartbeat_ms or 0)}"
    exchange = draft.step(wait.step).last_exchange
    request = exchange.request if exchange is not None and exchange.attempt == wait.attempt else None
    outcome = StepOutcome(
        kind=OutcomeKind.RETRYABLE if call.retry_on_timeout else OutcomeKind.FATAL,
        effect_unknown=True,
        error=reason,
        request=request,
        duration_ms=draft.now - wait.since_ms,
    )
    _settle(draft, wait.step, wait.direction, wait.attempt, outcome)


def _settle(draft: Draft, index: int, direction: Direction, attempt: int, outcome: StepOutcome) -> None:
    # The outcome paths expect the attempt to be the one in flight; a wait is that attempt still
    # under way, so hand it over as if its answer had just come, the step's status as in flight.
    in_flight = StepStatus.RUNNING if direction is Direction.ACTION else StepStatus.COMPENSATING
    draft.update_step(index, status=in_flight)
    if direction is Direction.ACTION:
        on_forward_outcome(draft, index, attempt, outcome)
    else:
        on_compensation_outcome(draft, index, attempt, outcome)


def _shown(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


class CallbackVerdict(StrEnum):
    """What a callback (or heartbeat) for one attempt would do, judged on the state alone."""

    ACCEPT = "accept"
    """The attempt waits (or its answer is still coming): the callback is recorded."""
    DUPLICATE = "duplicate"
    """The same outcome was already recorded for this attempt."""
    CONFLICT = "conflict"
    """A different outcome was already recorded for this attempt (or, for a heartbeat, any)."""
    SUPERSEDED = "superseded"
    """A newer attempt of the step's call was started: this one's word changes nothing."""
    EXPIRED = "expired"
    """The attempt's wait ended without it (a timeout), or the execution is over: as unknown."""


def callback_verdict(
    state: ExecutionState, index: int, direction: Direction, attempt: int, outcome: CallbackOutcome | None
) -> CallbackVerdict:
    """How a callback reporting `outcome` (None: a heartbeat) for `attempt` of step `index` in
    `direction` is answered. Pure, so any replica judges it alike, before and after it commits."""
    if not 0 <= index < len(state.steps):
        return CallbackVerdict.EXPIRED
    step = state.steps[index]
    latest = step.attempts if direction is Direction.ACTION else step.compensation_attempts
    if attempt < latest:
        return CallbackVerdict.SUPERSEDED
    recorded = step.callback_of(direction)
    if recorded is not None and recorded.attempt == attempt:
        return CallbackVerdict.DUPLICATE if recorded.outcome is outcome else CallbackVerdict.CONFLICT
    if state.status.is_terminal:
        return CallbackVerdict.EXPIRED
    wait = state.wait_of(index, direction)
    call = state.call_of(index, direction)
    if (wait is not None and wait.attempt == attempt) or (call is not None and call.attempt == attempt):
        return CallbackVerdict.ACCEPT
    return CallbackVerdict.EXPIRED
