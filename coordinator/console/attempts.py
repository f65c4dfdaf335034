"""Read an execution's history into attempts: when each was sent, what came back, and the wait after it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.state import Direction
from coordinator.ports import StoredEvent

_STARTS = (HistoryEventType.ATTEMPT_STARTED, HistoryEventType.ATTEMPT_RESENT)
_ENDS = (HistoryEventType.ATTEMPT_SUCCEEDED, HistoryEventType.ATTEMPT_FAILED)


@dataclass(slots=True, eq=False)
class Attempt:
    """One attempt of one call, assembled from its start and the outcome that followed."""

    step: str
    direction: Direction
    number: int | None
    started_ms: int | None
    ended_ms: int | None = None
    succeeded: bool | None = None
    """True or False once an outcome is recorded; None while none is."""
    outcome: str | None = None
    """success, retryable, fatal, invalid or unknown (the effect may have happened)."""
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None
    request: dict[str, Any] | None = None
    """As sent `{method, url, headers, body}`, secrets already `***`."""
    response: dict[str, Any] | None = None
    """`{status, headers, body}` when an answer came."""
    resent: bool = False
    """Sent again after a restart or takeover, under the same idempotency key."""
    lost: bool = False
    """Superseded by a re-send before its outcome was recorded (the coordinator restarted)."""
    wait_ms: int | None = None
    """The wait before the next attempt, when a retry was scheduled after this one."""
    outcome_seq: int | None = None
    """The history position of its outcome (when read from stored entries): where what was said is."""

    @property
    def compensation(self) -> bool:
        """Whether this attempt undoes the step."""
        return self.direction is Direction.COMPENSATION

    @property
    def wait_reason(self) -> str:
        """Why the next attempt waits: what this one answered."""
        if self.error:
            return self.error
        return f"HTTP {self.status_code}" if self.status_code is not None else "no answer"


def read_attempts(events: Iterable[HistoryEvent | StoredEvent]) -> list[Attempt]:
    """Every attempt in the order it was sent; each outcome and scheduled wait folded into its attempt."""
    attempts: list[Attempt] = []
    open_: dict[tuple[str, Direction, int | None], Attempt] = {}
    last: dict[tuple[str, Direction], Attempt] = {}
    for entry in events:
        event, seq = (entry.event, entry.seq) if isinstance(entry, StoredEvent) else (entry, None)
        step = event.step or ""
        direction = event.direction or Direction.ACTION
        key = (step, direction, event.attempt)
        if event.type in _STARTS:
            stale = open_.get(key)
            if stale is not None:
                stale.lost = True
            attempt = Attempt(
                step, direction, event.attempt, event.at_ms, resent=event.type is HistoryEventType.ATTEMPT_RESENT
            )
            open_[key] = last[(step, direction)] = attempt
            attempts.append(attempt)
        elif event.type in _ENDS:
            answered = open_.pop(key, None)
            if answered is None:  # its start is not in the history (a page we were not given)
                answered = Attempt(step, direction, event.attempt, None)
                attempts.append(answered)
            _finish(answered, event)
            answered.outcome_seq = seq
            last[(step, direction)] = answered
        elif event.type is HistoryEventType.RETRY_SCHEDULED and (step, direction) in last:
            last[(step, direction)].wait_ms = event.delay_ms or 0
    return attempts


def _finish(attempt: Attempt, event: HistoryEvent) -> None:
    attempt.ended_ms = event.at_ms
    attempt.succeeded = event.type is HistoryEventType.ATTEMPT_SUCCEEDED
    attempt.outcome = event.outcome
    attempt.status_code = event.status_code
    attempt.error = event.error
    attempt.duration_ms = event.duration_ms
    said(attempt, event)
    if attempt.started_ms is None and event.duration_ms is not None:
        attempt.started_ms = event.at_ms - event.duration_ms


def said(attempt: Attempt, outcome: HistoryEvent) -> None:
    """Put what was said (request and response) of the attempt's `outcome` entry into the attempt."""
    attempt.request = outcome.request.as_context() if outcome.request else None
    attempt.response = outcome.response.as_context() if outcome.response else None
