"""Starting attempts and scheduling their retries, shared by both directions."""

from __future__ import annotations

from coordinator.core.actions import ArmWakeup, CallStep
from coordinator.core.draft import Draft
from coordinator.core.history import HistoryEventType
from coordinator.core.keys import idempotency_key, jitter_seed
from coordinator.core.outcome import StepOutcome
from coordinator.core.retry import RetryPolicy
from coordinator.core.state import AttemptExchange, Direction, InFlightCall, PendingWakeup, StepStatus


def start_attempt(draft: Draft, index: int, direction: Direction, timeout_ms: int) -> None:
    """Record attempt n+1 as started (write-ahead) and ask for the call."""
    step = draft.step(index)
    spec = draft.step_spec(index)
    if direction is Direction.ACTION:
        attempt = step.attempts + 1
        draft.update_step(
            index,
            status=StepStatus.RUNNING,
            attempts=attempt,
            started_at_ms=step.started_at_ms if step.started_at_ms is not None else draft.now,
        )
    else:
        attempt = step.compensation_attempts + 1
        draft.update_step(index, status=StepStatus.COMPENSATING, compensation_attempts=attempt)
    draft.put_call(
        InFlightCall(step=index, direction=direction, attempt=attempt, timeout_ms=timeout_ms, started_at_ms=draft.now)
    )
    draft.drop_wakeup(index, direction)
    draft.record(HistoryEventType.ATTEMPT_STARTED, step=spec.name, direction=direction, attempt=attempt)
    send_call(draft, index, direction, attempt, timeout_ms, started_at_ms=draft.now)


def send_call(
    draft: Draft, index: int, direction: Direction, attempt: int, timeout_ms: int, *, started_at_ms: int
) -> None:
    """Ask the engine to send the call of an attempt already recorded as started (at `started_at_ms`)."""
    name = draft.step_spec(index).name
    draft.act(
        CallStep(
            step=index,
            step_name=name,
            direction=direction,
            attempt=attempt,
            idempotency_key=idempotency_key(draft.state.id, name, direction),
            timeout_ms=timeout_ms,
            started_at_ms=started_at_ms,
        )
    )


def retry_delay(
    draft: Draft,
    index: int,
    direction: Direction,
    attempt: int,
    policy: RetryPolicy,
    retry_after_ms: int | None,
    *,
    nth: int | None = None,
) -> int:
    """The wait before the next attempt, jitter seeded from the attempt's identity.

    `nth` is the attempt's place in its budget when an operator's retry restarted it (the
    backoff restarts too); by default the attempt number.
    """
    seed = jitter_seed(draft.state.id, draft.step_spec(index).name, direction, attempt)
    return policy.delay_for(attempt if nth is None else nth, seed=seed, retry_after_ms=retry_after_ms)


def schedule_retry(draft: Draft, index: int, direction: Direction, next_attempt: int, delay_ms: int) -> None:
    """Persist the due time of the next attempt and ask for a wake-up."""
    due = draft.now + delay_ms
    draft.put_wakeup(PendingWakeup(step=index, direction=direction, attempt=next_attempt, due_at_ms=due))
    draft.record(
        HistoryEventType.RETRY_SCHEDULED,
        step=draft.step_spec(index).name,
        direction=direction,
        attempt=next_attempt,
        delay_ms=delay_ms,
    )
    draft.act(ArmWakeup(step=index, direction=direction, attempt=next_attempt, due_at_ms=due))


def keep_exchange(draft: Draft, index: int, direction: Direction, attempt: int, outcome: StepOutcome) -> None:
    """Keep what attempt `attempt` sent and received on step `index`, replacing the previous one.

    Set even when nothing was sent or received, so the step never shows an older attempt's
    exchange as if it were the latest.
    """
    exchange = AttemptExchange(direction=direction, attempt=attempt, request=outcome.request, response=outcome.response)
    draft.update_step(index, last_exchange=exchange)
