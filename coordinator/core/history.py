"""The append-only history of an execution: one entry per thing that happened to it.

`HistoryEventType` is the one list of entry types. Telemetry, the store, the command line and
the client all read it from here, so adding a type is one edit and mypy's exhaustiveness checks
(`assert_never` in a `match`) point at every place that must handle it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from coordinator.core.outcome import RequestSnapshot, ResponseSnapshot
from coordinator.core.state import Direction


class HistoryEventType(StrEnum):
    """What one history entry records. The values are the `type` field of `/events`."""

    EXECUTION_STARTED = "execution_started"
    ATTEMPT_STARTED = "attempt_started"
    ATTEMPT_RESENT = "attempt_resent"
    """After a restart or takeover: an attempt recorded as started is sent again under its key."""
    ATTEMPT_SUCCEEDED = "attempt_succeeded"
    ATTEMPT_FAILED = "attempt_failed"
    ATTEMPT_WAITING = "attempt_waiting"
    """An asynchronous attempt answered `202`: the step waits for its callback (`delay_ms`: the timeout)."""
    CALLBACK_RECEIVED = "callback_received"
    """The participant reported the attempt's outcome (`outcome`: succeeded or failed)."""
    HEARTBEAT_RECEIVED = "heartbeat_received"
    """The participant said the asynchronous attempt is still being worked on."""
    RETRY_SCHEDULED = "retry_scheduled"
    STEP_FAILED = "step_failed"
    ROLLBACK_STARTED = "rollback_started"
    CANCEL_REQUESTED = "cancel_requested"
    RETRY_REQUESTED = "retry_requested"
    COMPENSATION_RESOLVED = "compensation_resolved"
    """An operator marked a failed compensation as done by hand; the rollback carries on."""
    EXECUTION_COMPLETED = "execution_completed"
    EXECUTION_COMPENSATED = "execution_compensated"
    EXECUTION_FAILED = "execution_failed"

    @property
    def ends_execution(self) -> bool:
        """Whether this entry is the last one of a finished execution."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {HistoryEventType.EXECUTION_COMPLETED, HistoryEventType.EXECUTION_COMPENSATED, HistoryEventType.EXECUTION_FAILED}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEvent:
    """One entry of the append-only history the API serves at `/events`."""

    type: HistoryEventType
    at_ms: int
    step: str | None = None
    direction: Direction | None = None
    attempt: int | None = None
    status_code: int | None = None
    error: str | None = None
    delay_ms: int | None = None
    duration_ms: int | None = None
    outcome: str | None = None
    """For attempts: success, retryable, fatal, invalid, unknown (the effect may have happened), or
    exhausted (it would have been retried, but its retry policy allowed no more attempts)."""
    request: RequestSnapshot | None = None
    """For finished attempts: the request as sent (secrets as `***`), when one was sent."""
    response: ResponseSnapshot | None = None
    """For finished attempts: the participant's response (status, headers, body), when one came."""
    note: str | None = None
    """For an operator's resolve: what the operator said was done."""
    actor: str | None = None
    """For an operator's resolve: who did it (the API token's name)."""
