"""Request and response bodies of the API, and their conversion from stored records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coordinator.ports import ExecutionRecord, StoredDefinition, StoredEvent
from coordinator.telemetry import trace_id_of


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds, e.g. `2026-11-27T05:40:44.123Z`."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class StartRequest:
    """Body of `POST /v1/sagas/{name}/executions`."""

    input: Any = None
    """The saga's input, checked against its `input_schema`."""
    version: int | None = None
    """Pin a version; the latest when omitted."""


@dataclass
class SagaRef:
    """A registered version."""

    name: str
    version: int
    created: bool = True
    """False when the same body was already registered (nothing changed)."""


@dataclass
class SagaView:
    """One saga version with its definition."""

    name: str
    version: int
    description: str | None
    steps: list[str]
    created_at: str | None
    definition: dict[str, Any]


@dataclass
class SagaList:
    """A page of sagas (latest version of each) or of one saga's versions."""

    items: list[SagaView]
    next_cursor: str | None = None


@dataclass
class StepView:
    """One step of an execution."""

    name: str
    status: str
    attempts: int
    compensation_attempts: int
    last_error: str | None
    last_status_code: int | None
    started_at: str | None
    finished_at: str | None


@dataclass
class ErrorView:
    """Why an execution did not complete."""

    step: str | None
    message: str


@dataclass
class ExecutionView:
    """An execution as clients see it."""

    id: str
    saga: str
    version: int
    status: str
    input: Any
    steps: list[StepView]
    error: ErrorView | None
    trace_id: str | None
    created_at: str | None
    updated_at: str | None
    deadline_at: str | None = None
    cancel_requested: bool = False
    idempotency_key: str | None = None


@dataclass
class ExecutionList:
    """A page of executions, newest first."""

    items: list[ExecutionView]
    next_cursor: str | None = None


@dataclass
class EventView:
    """One entry of an execution's history."""

    seq: int
    at: str | None
    type: str
    step: str | None = None
    direction: str | None = None
    attempt: int | None = None
    status_code: int | None = None
    error: str | None = None
    delay_ms: int | None = None
    duration_ms: int | None = None
    outcome: str | None = None
    """For attempts: success, retryable, fatal, invalid, or unknown (the effect may have happened)."""


@dataclass
class EventList:
    """A page of history entries, oldest first."""

    items: list[EventView] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass
class ProblemItem:
    """One validation problem: where (a JSON path such as `steps[1].action.url`) and what."""

    path: str
    message: str


@dataclass
class ProblemView:
    """Every error, as `application/problem+json` (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    """For people."""
    code: str
    """Stable, for programs: `not_found`, `invalid_definition`, `forbidden`, ..."""
    errors: list[ProblemItem] | None = None
    """Validation problems (400, 422)."""
    scope: str | None = None
    """The scope the token lacks (403)."""


@dataclass
class Health:
    """Liveness or readiness."""

    status: str
    detail: str | None = None


def saga_view(definition: StoredDefinition) -> SagaView:
    """API shape of a stored definition."""
    steps = definition.document.get("steps")
    names = [s.get("name", "") for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
    description = definition.document.get("description")
    return SagaView(
        name=definition.name,
        version=definition.version,
        description=description if isinstance(description, str) else None,
        steps=[str(n) for n in names],
        created_at=iso(definition.created_at_ms),
        definition=definition.document,
    )


def execution_view(record: ExecutionRecord) -> ExecutionView:
    """API shape of an execution."""
    state = record.state
    return ExecutionView(
        id=state.id,
        saga=state.saga,
        version=state.version,
        status=state.status.value,
        input=record.input,
        steps=[
            StepView(
                name=s.name,
                status=s.status.value,
                attempts=s.attempts,
                compensation_attempts=s.compensation_attempts,
                last_error=s.last_error,
                last_status_code=s.last_status_code,
                started_at=iso(s.started_at_ms),
                finished_at=iso(s.finished_at_ms),
            )
            for s in state.steps
        ],
        error=ErrorView(step=state.error.step, message=state.error.message) if state.error else None,
        trace_id=trace_id_of(record.trace_context),
        created_at=iso(state.created_at_ms),
        updated_at=iso(state.updated_at_ms),
        deadline_at=iso(state.deadline_at_ms),
        cancel_requested=state.cancel_reason is not None,
        idempotency_key=record.idempotency_key,
    )


def event_view(stored: StoredEvent) -> EventView:
    """API shape of a history entry."""
    e = stored.event
    return EventView(
        seq=stored.seq,
        at=iso(e.at_ms),
        type=e.type,
        step=e.step,
        direction=e.direction.value if e.direction else None,
        attempt=e.attempt,
        status_code=e.status_code,
        error=e.error,
        delay_ms=e.delay_ms,
        duration_ms=e.duration_ms,
        outcome=e.outcome,
    )
