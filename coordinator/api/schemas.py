"""Request and response bodies of the API, and their conversion from stored records."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coordinator.core.spec import SagaSpec
from coordinator.core.state import AttemptExchange, Direction, ExecutionState, ExecutionStatus, StepStatus
from coordinator.definition import OutputResult
from coordinator.definition.layout import placed_steps
from coordinator.ports import ExecutionRecord, StoredDefinition, StoredEvent
from coordinator.telemetry import trace_id_of


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds, e.g. `2026-11-27T05:40:44.123Z`."""
    if ms is None:
        return None
    # A page of 50 executions writes some 700 of these, mostly within a few seconds: each second
    # is formatted once (datetime per value was a sixth of a list page's CPU).
    second, milli = divmod(int(ms), 1000)
    return f"{_iso_second(second)}.{milli:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(epoch_s: int) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).replace(tzinfo=None).isoformat()


@dataclass
class StartRequest:
    """Body of `POST /v1/sagas/{name}/executions`."""

    input: Any = None
    """The saga's input, checked against its `input_schema`."""
    version: int | None = None
    """Pin a version; the latest when omitted."""


@dataclass
class ResolveRequest:
    """Body of `POST /v1/executions/{id}/resolve`."""

    step: str
    """The step whose compensation the operator did by hand."""
    note: str
    """What was done, for the history (e.g. "refunded in the PSP dashboard")."""


@dataclass
class BulkRequest:
    """Body of `POST /v1/executions/cancel` and `/retry`: which executions; at least one filter."""

    ids: list[str] | None = None
    """These executions (the other filters still apply to them)."""
    saga: str | None = None
    status: str | None = None
    key: str | None = None
    attention: bool = False
    """Only executions that need an operator (failed, quarantined, stalled)."""
    limit: int = 1000
    """At most this many executions (1 to 1000); `more` says when the filter matched more."""
    dry_run: bool = False
    """Say what would be done, change nothing."""


@dataclass
class BulkResultView:
    """One execution's outcome: accepted, not_applicable (see `detail`), not_found, or error (ours; retry)."""

    id: str
    outcome: str
    detail: str


@dataclass
class BulkResponse:
    """Every selected execution's outcome."""

    results: list[BulkResultView]
    more: bool = False
    """The filter matched more executions than `limit`: run it again for the next ones."""
    dry_run: bool = False


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
    """Every step's name in definition order, group members in place."""
    created_at: str | None
    definition: dict[str, Any]
    groups: list[GroupView] = field(default_factory=list)
    """The parallel groups, each with its members' names."""
    pivot: str | None = None
    """The pivot step's name: the point of no return; null when the saga has none."""


@dataclass
class GroupView:
    """A parallel group of a saga: its members start together."""

    name: str
    steps: list[str]


@dataclass
class SagaList:
    """A page of sagas (latest version of each) or of one saga's versions."""

    items: list[SagaView]
    next_cursor: str | None = None


@dataclass
class ExchangeView:
    """What was said in one attempt: the request as sent and the answer, secrets as `***`.

    Bodies past `SAGA_MAX_RESPONSE_BYTES` are cut; `truncated` then gives their size and hash.
    """

    direction: str
    attempt: int
    request: dict[str, Any] | None = None
    """`{method, url, headers, body, truncated?}`; null when nothing was sent (a template error)."""
    response: dict[str, Any] | None = None
    """`{status, headers, body, truncated?}`; null when no answer came (refused, timed out)."""


@dataclass
class ResolutionView:
    """An operator's word that a compensation was done by hand (`POST .../resolve`)."""

    note: str
    actor: str | None
    at: str | None


@dataclass
class NextAttemptView:
    """A scheduled retry: which attempt of which call, and when it is due."""

    step: str
    direction: str
    attempt: int
    due_at: str | None
    reason: str | None = None
    """Why it waits: the previous attempt's error."""


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
    response: dict[str, Any] | None = None
    """The forward call's successful answer `{status, headers, body}`: what `steps.<name>.response` reads."""
    last_attempt: ExchangeView | None = None
    """The latest finished attempt, either direction, with its request and response."""
    next_attempt_at: str | None = None
    """When this step's next attempt is due (a retry waiting for its wake-up)."""
    effect_in_place: bool = False
    """True while the step's effect stands (or may): it succeeded, or its outcome is unknown, and no
    compensation has undone it yet."""
    resolution: ResolutionView | None = None
    group: str | None = None
    """The parallel group the step is a member of (members run side by side); null on its own."""
    pivot: bool = False
    """True for the pivot step: once it succeeded the saga only goes forward, never rolls back."""
    waiting: WaitView | None = None
    """Set while the step waits for its participant's callback (status `waiting`)."""


@dataclass
class WaitView:
    """A step waiting for its participant's callback (SPEC 7.3): since when, and until when."""

    direction: str
    attempt: int
    since: str
    """When the participant answered `202`."""
    timeout_at: str
    """When the wait ends without a callback (an unknown outcome)."""
    next_deadline_at: str
    """The heartbeat deadline, or the timeout when that comes first: when the wait is next judged."""


@dataclass
class ErrorView:
    """Why an execution did not complete."""

    step: str | None
    message: str
    direction: str | None = None
    """For a `failed` execution: `action` when a forward call failed at or past the pivot (nothing is
    rolled back; `retry` carries it forward), `compensation` when a compensation gave up."""


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
    next_attempt: NextAttemptView | None = None
    """The scheduled retry the execution waits for, if any."""
    key: str | None = None
    """The business key (the definition's `key:` rendered over the input at start)."""
    attention: str | None = None
    """Why it needs an operator now: failed, quarantined or stalled; null when it does not."""
    quarantined: str | None = None
    """Why recovery stopped driving it (it kept crashing the coordinator); `retry` releases it."""
    output: Any = None
    """Completed executions (single reads): the definition's `output:` template, else the last step's body."""
    output_error: str | None = None
    """Why `output` could not be computed (a template that failed), if it could not."""


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
    """For attempts: success, retryable, fatal, invalid, unknown (the effect may have happened), or
    exhausted (it would have been retried, but its retry policy allowed no more attempts)."""
    request: dict[str, Any] | None = None
    """Attempts: the request as sent `{method, url, headers, body, truncated?}`, secrets as `***`."""
    response: dict[str, Any] | None = None
    """Attempts: the answer `{status, headers, body, truncated?}`, when one came."""
    note: str | None = None
    """`compensation_resolved`: the operator's note."""
    actor: str | None = None
    """`compensation_resolved`: who resolved it (the API token's name)."""


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
    placed = placed_steps(definition.document)
    groups: dict[str, list[str]] = {}
    for p in placed:
        if p.group is not None:
            groups.setdefault(p.group, []).append(str(p.step.get("name", "")))
    pivot = next((str(p.step.get("name", "")) for p in placed if p.step.get("pivot") is True), None)
    description = definition.document.get("description")
    return SagaView(
        name=definition.name,
        version=definition.version,
        description=description if isinstance(description, str) else None,
        steps=[str(p.step.get("name", "")) for p in placed],
        created_at=iso(definition.created_at_ms),
        definition=definition.document,
        groups=[GroupView(name=name, steps=members) for name, members in groups.items()],
        pivot=pivot,
    )


def _exchange(exchange: AttemptExchange | None) -> ExchangeView | None:
    if exchange is None:
        return None
    return ExchangeView(
        direction=exchange.direction.value,
        attempt=exchange.attempt,
        request=exchange.request.as_context() if exchange.request else None,
        response=exchange.response.as_context() if exchange.response else None,
    )


def _step_view(state: ExecutionState, index: int, spec: SagaSpec | None, brief: bool) -> StepView:
    s = state.steps[index]
    wakeup = next((w for w in state.wakeups if w.step == index), None)
    wait = next((w for w in state.waits if w.step == index), None)
    step_spec = spec.steps[index] if spec is not None and index < len(spec.steps) else None
    return StepView(
        name=s.name,
        status=s.status.value,
        attempts=s.attempts,
        compensation_attempts=s.compensation_attempts,
        last_error=s.last_error,
        last_status_code=s.last_status_code,
        started_at=iso(s.started_at_ms),
        finished_at=iso(s.finished_at_ms),
        response=s.response.as_context() if s.response and not brief else None,
        last_attempt=_exchange(s.last_exchange) if not brief else None,
        next_attempt_at=iso(wakeup.due_at_ms) if wakeup else None,
        effect_in_place=s.status in _EFFECT_STANDS or (s.status is StepStatus.FAILED and s.effect_possible),
        resolution=ResolutionView(note=s.resolution.note, actor=s.resolution.actor, at=iso(s.resolution.at_ms))
        if s.resolution
        else None,
        group=step_spec.group if step_spec else None,
        pivot=step_spec.pivot if step_spec else False,
        waiting=WaitView(
            direction=wait.direction.value,
            attempt=wait.attempt,
            since=iso(wait.since_ms) or "",
            timeout_at=iso(wait.timeout_at_ms) or "",
            next_deadline_at=iso(wait.due_at_ms) or "",
        )
        if wait
        else None,
    )


_EFFECT_STANDS = frozenset({StepStatus.SUCCEEDED, StepStatus.COMPENSATING, StepStatus.COMPENSATION_FAILED})
"""A `waiting` step's effect is not known yet: its wait's end says (a compensation's wait: see its attempt)."""


def _next_attempt(state: ExecutionState) -> NextAttemptView | None:
    wakeup = min(state.wakeups, key=lambda w: w.due_at_ms, default=None)
    if wakeup is None or not 0 <= wakeup.step < len(state.steps):
        return None
    step = state.steps[wakeup.step]
    return NextAttemptView(
        step=step.name,
        direction=wakeup.direction.value,
        attempt=wakeup.attempt,
        due_at=iso(wakeup.due_at_ms),
        reason=step.last_error,
    )


def execution_view(
    record: ExecutionRecord,
    output: OutputResult | None = None,
    *,
    now_ms: int,
    spec: SagaSpec | None = None,
    brief: bool = False,
) -> ExecutionView:
    """API shape of an execution at `now_ms` (attention is judged then); `output` for a completed
    one read on its own; with the saga's `spec`, each step says its group and whether it is the pivot.
    `brief` (lists) leaves out each step's `response` and `last_attempt`: their bodies would make a
    page of 50 executions megabytes; `GET /v1/executions/{id}` has them."""
    state = record.state
    return ExecutionView(
        id=state.id,
        saga=state.saga,
        version=state.version,
        status=state.status.value,
        input=record.input,
        steps=[_step_view(state, i, spec, brief) for i in range(len(state.steps))],
        error=_error_view(state),
        trace_id=trace_id_of(record.trace_context),
        created_at=iso(state.created_at_ms),
        updated_at=iso(state.updated_at_ms),
        deadline_at=iso(state.deadline_at_ms),
        cancel_requested=state.cancel_reason is not None,
        idempotency_key=record.idempotency_key,
        next_attempt=_next_attempt(state),
        key=record.business_key,
        attention=reason.value if (reason := record.attention_reason(now_ms)) else None,
        quarantined=record.quarantined,
        output=output.value if output else None,
        output_error=output.error if output else None,
    )


def _error_view(state: ExecutionState) -> ErrorView | None:
    error = state.error
    if error is None:
        return None
    direction = error.direction.value if error.direction is not None else None
    if direction is None and state.status is ExecutionStatus.FAILED:
        direction = Direction.COMPENSATION.value
    return ErrorView(step=error.step, message=error.message, direction=direction)


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
        request=e.request.as_context() if e.request else None,
        response=e.response.as_context() if e.response else None,
        note=e.note,
        actor=e.actor,
    )
