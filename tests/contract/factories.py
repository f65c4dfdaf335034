"""Builders of the values the store keeps: definitions, executions in rich states, history."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.outcome import RequestSnapshot, ResponseSnapshot, TruncatedBody
from coordinator.core.state import (
    AttemptExchange,
    Direction,
    ExecutionError,
    ExecutionState,
    ExecutionStatus,
    InFlightCall,
    OperatorResolution,
    PendingWakeup,
    StepState,
    StepStatus,
)
from coordinator.ports import ExecutionRecord, StoredDefinition

# Realistic epoch milliseconds: beyond 32 bits, so a column that is not BIGINT would fail.
T0 = 1_790_000_000_000


def definition(name: str = "checkout", version: int = 1, *, steps: int = 2, at: int = T0) -> StoredDefinition:
    """A registered version whose body (hence digest) depends on `steps`."""
    body: dict[str, Any] = {
        "name": name,
        "description": "Réserver, payer, expédier ✓",
        "steps": [{"name": f"s{i}", "action": {"method": "POST", "url": f"http://svc/{i}"}} for i in range(steps)],
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return StoredDefinition(
        name=name, version=version, document={**body, "version": version}, digest=digest, created_at_ms=at
    )


def plain_state(
    execution_id: str,
    *,
    saga: str = "checkout",
    status: ExecutionStatus = ExecutionStatus.RUNNING,
    created_at_ms: int = T0,
) -> ExecutionState:
    """A just-started execution of two steps."""
    return ExecutionState(
        id=execution_id,
        saga=saga,
        version=1,
        status=status,
        steps=(StepState(name="reserve"), StepState(name="charge")),
        created_at_ms=created_at_ms,
        updated_at_ms=created_at_ms,
    )


def sent_request() -> RequestSnapshot:
    """A request as sent, secrets already masked, its body cut at the size limit."""
    return RequestSnapshot(
        method="POST",
        url="http://psp:8002/charges?order=o-1",
        headers={"authorization": "***", "content-type": "application/json"},
        body='{"amount": 1250, "note": "żółw',
        truncated=TruncatedBody(size_bytes=70_000, sha256="ab" * 32, kept_bytes=32),
    )


def error_response() -> ResponseSnapshot:
    """A refusal whose reason is nested in the body, as participants often answer."""
    return ResponseSnapshot(
        status=422,
        headers={"content-type": "application/json"},
        body={"errors": [{"field": "to", "msg": "mailbox does not exist"}], "ok": False, "none": None},
    )


def rich_state(execution_id: str = "ex-rich") -> ExecutionState:
    """A state with every optional field set, a call in flight, and a stored response."""
    response = ResponseSnapshot(
        status=201,
        headers={"content-type": "application/json", "x-request-id": "r-42"},
        body={"reservation_id": "res-1", "items": [1, 2.5, "three"], "nested": {"ok": True, "none": None}},
    )
    steps = (
        StepState(
            name="reserve",
            status=StepStatus.SUCCEEDED,
            attempts=3,
            compensation_attempts=2,
            compensation_budget_base=1,
            effect_possible=True,
            last_error="HTTP 503: try later",
            last_status_code=503,
            started_at_ms=T0 + 10,
            finished_at_ms=T0 + 20,
            deadline_at_ms=T0 + 30_000,
            response=response,
            last_exchange=AttemptExchange(
                direction=Direction.COMPENSATION, attempt=2, request=sent_request(), response=error_response()
            ),
            resolution=OperatorResolution(note="refunded in the PSP dashboard ✓", actor="ops-alice", at_ms=T0 + 25),
        ),
        StepState(
            name="charge",
            status=StepStatus.RUNNING,
            attempts=1,
            started_at_ms=T0 + 21,
            last_exchange=AttemptExchange(direction=Direction.ACTION, attempt=1),
        ),
        StepState(name="ship"),
    )
    return ExecutionState(
        id=execution_id,
        saga="checkout",
        version=3,
        status=ExecutionStatus.RUNNING,
        steps=steps,
        created_at_ms=T0,
        updated_at_ms=T0 + 21,
        deadline_at_ms=T0 + 120_000,
        in_flight=InFlightCall(step=1, direction=Direction.ACTION, attempt=1, timeout_ms=2_000, started_at_ms=T0 + 21),
        cancel_reason="operator: customer called",
        error=ExecutionError(step="charge", message="card declined ✗"),
    )


def record(
    state: ExecutionState,
    *,
    key: str | None = None,
    digest: str | None = "digest-a",
    input: Any = None,
    business_key: str | None = None,
) -> ExecutionRecord:
    """A start request's record for `state`."""
    return ExecutionRecord(
        state=state,
        input={"order_id": "o-1", "items": [{"sku": "a", "qty": 2}], "note": "żółw"} if input is None else input,
        idempotency_key=key,
        request_digest=digest,
        trace_context={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        business_key=business_key,
    )


def event(kind: str = "attempt_started", at: int = T0, **fields: Any) -> HistoryEvent:
    """A history entry."""
    return HistoryEvent(type=HistoryEventType(kind), at_ms=at, **fields)


def labelled(label: str, at: int = T0) -> HistoryEvent:
    """A history entry told apart from others by `label` (kept in its `error`), to check ordering."""
    return HistoryEvent(type=HistoryEventType.RETRY_SCHEDULED, at_ms=at, error=label)


def label_of(event: HistoryEvent) -> str:
    """What `labelled` put in, or the type of any other entry."""
    return event.error if event.type is HistoryEventType.RETRY_SCHEDULED and event.error else event.type


def full_event(at: int = T0) -> HistoryEvent:
    """A history entry with every field set."""
    return HistoryEvent(
        type=HistoryEventType.ATTEMPT_FAILED,
        at_ms=at,
        step="charge",
        direction=Direction.COMPENSATION,
        attempt=4,
        status_code=502,
        error="bad gateway",
        delay_ms=1_500,
        duration_ms=37,
        outcome="retryable",
        request=sent_request(),
        response=error_response(),
        note="refunded by hand",
        actor="ops-alice",
    )


def waiting(state: ExecutionState, *, due_at_ms: int) -> ExecutionState:
    """`state` with its call done and a retry of step 1 scheduled."""
    wakeup = PendingWakeup(step=1, direction=Direction.ACTION, attempt=2, due_at_ms=due_at_ms)
    return replace(state, in_flight=None, wakeup=wakeup, updated_at_ms=state.updated_at_ms + 1)
