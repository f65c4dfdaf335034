"""What the coordinator answers, as typed, frozen values.

Each model keeps the JSON it was read from in `raw` (not compared, not shown in `repr`), so a
program can pass it on unchanged (the CLI's `--json` prints it) and fields the server adds later
are not lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from coordinator.client.errors import UnexpectedResponse
from coordinator.core.history import HistoryEventType

__all__ = [
    "BulkReport",
    "BulkResult",
    "Event",
    "Exchange",
    "Execution",
    "ExecutionError",
    "ExecutionStatus",
    "NextAttempt",
    "Page",
    "Problem",
    "Resolution",
    "Saga",
    "SagaRef",
    "Step",
]

T = TypeVar("T")
_UNEXPECTED = "unexpected answer (is this the coordinator's URL?)"
Json = Mapping[str, Any]


class ExecutionStatus(StrEnum):
    """Where an execution stands; equal to its string value (`status == "compensated"` works)."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Nothing more happens to the execution (unless an operator retries a `failed` one)."""
        return self in (ExecutionStatus.COMPLETED, ExecutionStatus.COMPENSATED, ExecutionStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a request, located by a JSON path such as `steps[1].action.url`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class SagaRef:
    """The answer to a registration: the version now stored under the name."""

    name: str
    version: int
    created: bool
    """False when the same body was already registered (nothing changed)."""

    @classmethod
    def from_json(cls, data: Json) -> SagaRef:
        """Read `POST /v1/sagas`'s answer."""
        return cls(name=str(data["name"]), version=int(data["version"]), created=bool(data.get("created", True)))


@dataclass(frozen=True, slots=True)
class Saga:
    """One version of a registered saga."""

    name: str
    version: int
    description: str | None
    steps: tuple[str, ...]
    created_at: datetime | None
    definition: Json = field(hash=False)
    raw: Json = field(repr=False, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: Json) -> Saga:
        """Read one item of `GET /v1/sagas` or `GET /v1/sagas/{name}`."""
        return cls(
            name=str(data["name"]),
            version=int(data["version"]),
            description=_opt_str(data.get("description")),
            steps=tuple(str(s) for s in data.get("steps") or ()),
            created_at=_time(data.get("created_at")),
            definition=dict(data.get("definition") or {}),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class Exchange:
    """What was said in one attempt: the request as sent and the answer (secrets as `***`)."""

    direction: str
    attempt: int
    request: Json | None = field(default=None, hash=False)
    """`{method, url, headers, body, truncated?}`; None when nothing was sent."""
    response: Json | None = field(default=None, hash=False)
    """`{status, headers, body, truncated?}`; None when no answer came."""

    @classmethod
    def from_json(cls, data: Any) -> Exchange | None:
        """Read a step's `last_attempt` (None when absent)."""
        if not isinstance(data, Mapping):
            return None
        return cls(
            direction=str(data.get("direction")),
            attempt=int(data.get("attempt") or 0),
            request=_opt_map(data.get("request")),
            response=_opt_map(data.get("response")),
        )


@dataclass(frozen=True, slots=True)
class Resolution:
    """An operator's word that a compensation was done by hand."""

    note: str
    actor: str | None
    at: datetime | None

    @classmethod
    def from_json(cls, data: Any) -> Resolution | None:
        """Read a step's `resolution` (None when absent)."""
        if not isinstance(data, Mapping):
            return None
        return cls(note=str(data.get("note") or ""), actor=_opt_str(data.get("actor")), at=_time(data.get("at")))


@dataclass(frozen=True, slots=True)
class Wait:
    """A step waiting for its participant's callback (an asynchronous step that answered 202)."""

    direction: str
    attempt: int
    since: datetime | None
    timeout_at: datetime | None
    next_deadline_at: datetime | None
    """The heartbeat deadline, or the timeout when that comes first."""

    @classmethod
    def from_json(cls, data: Any) -> Wait | None:
        """Read a step's `waiting` (None when absent)."""
        if not isinstance(data, Mapping):
            return None
        return cls(
            direction=str(data.get("direction") or "action"),
            attempt=int(data.get("attempt") or 0),
            since=_time(data.get("since")),
            timeout_at=_time(data.get("timeout_at")),
            next_deadline_at=_time(data.get("next_deadline_at")),
        )


@dataclass(frozen=True, slots=True)
class NextAttempt:
    """A scheduled retry the execution waits for."""

    step: str
    direction: str
    attempt: int
    due_at: datetime | None
    reason: str | None
    """The previous attempt's error: what it waits out."""

    @classmethod
    def from_json(cls, data: Any) -> NextAttempt | None:
        """Read an execution's `next_attempt` (None when absent)."""
        if not isinstance(data, Mapping):
            return None
        return cls(
            step=str(data.get("step")),
            direction=str(data.get("direction")),
            attempt=int(data.get("attempt") or 0),
            due_at=_time(data.get("due_at")),
            reason=_opt_str(data.get("reason")),
        )


@dataclass(frozen=True, slots=True)
class Step:
    """One step of an execution."""

    name: str
    status: str
    """pending, running, waiting, succeeded, failed, compensating, compensated, compensation_failed or skipped."""
    attempts: int
    compensation_attempts: int
    last_error: str | None
    last_status_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    response: Json | None = field(default=None, hash=False)
    """The forward call's successful answer `{status, headers, body}` (what later templates read)."""
    last_attempt: Exchange | None = None
    next_attempt_at: datetime | None = None
    effect_in_place: bool = False
    """The step's effect stands (or may): it succeeded or its outcome is unknown, and nothing undid it."""
    resolution: Resolution | None = None
    group: str | None = None
    """The parallel group the step is a member of (its members run side by side); None on its own."""
    pivot: bool = False
    """The saga's pivot, its point of no return: once it succeeded, the saga only goes forward."""
    waiting: Wait | None = None
    """Set while the step waits for its participant's callback."""

    @classmethod
    def from_json(cls, data: Json) -> Step:
        """Read one item of an execution's `steps`."""
        return cls(
            name=str(data["name"]),
            status=str(data["status"]),
            attempts=int(data.get("attempts") or 0),
            compensation_attempts=int(data.get("compensation_attempts") or 0),
            last_error=_opt_str(data.get("last_error")),
            last_status_code=_opt_int(data.get("last_status_code")),
            started_at=_time(data.get("started_at")),
            finished_at=_time(data.get("finished_at")),
            response=_opt_map(data.get("response")),
            last_attempt=Exchange.from_json(data.get("last_attempt")),
            next_attempt_at=_time(data.get("next_attempt_at")),
            effect_in_place=bool(data.get("effect_in_place", False)),
            resolution=Resolution.from_json(data.get("resolution")),
            group=_opt_str(data.get("group")),
            pivot=bool(data.get("pivot", False)),
            waiting=Wait.from_json(data.get("waiting")),
        )


@dataclass(frozen=True, slots=True)
class ExecutionError:
    """Why an execution did not complete: the step that failed (if one did) and what happened."""

    step: str | None
    message: str
    direction: str | None = None
    """`action` when a forward call failed at or past the pivot (nothing was rolled back; a retry
    carries the saga forward), `compensation` when a compensation gave up; None from older servers."""

    def __str__(self) -> str:
        return f"{self.step}: {self.message}" if self.step else self.message


@dataclass(frozen=True, slots=True)
class Execution:
    """An execution of a saga as the coordinator reports it (`GET /v1/executions/{id}`)."""

    id: str
    saga: str
    version: int
    status: ExecutionStatus
    input: Any = field(hash=False)
    steps: tuple[Step, ...]
    error: ExecutionError | None
    trace_id: str | None
    created_at: datetime | None
    updated_at: datetime | None
    deadline_at: datetime | None
    cancel_requested: bool
    idempotency_key: str | None
    raw: Json = field(repr=False, compare=False, hash=False)
    next_attempt: NextAttempt | None = None
    key: str | None = None
    """The business key (the definition's `key:` rendered over the input)."""
    attention: str | None = None
    """Why it needs an operator now (failed, quarantined, stalled); None when it does not."""
    output: Any = field(default=None, hash=False)
    """A completed execution's output: its definition's `output:` template, else the last step's body."""
    output_error: str | None = None

    @property
    def is_terminal(self) -> bool:
        """`completed`, `compensated` or `failed`."""
        return self.status.is_terminal

    @property
    def succeeded(self) -> bool:
        """`completed`: every step took effect."""
        return self.status is ExecutionStatus.COMPLETED

    def step(self, name: str) -> Step:
        """The step called `name` (KeyError if the saga has none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @classmethod
    def from_json(cls, data: Json) -> Execution:
        """Read an execution object."""
        error = data.get("error")
        return cls(
            id=str(data["id"]),
            saga=str(data["saga"]),
            version=int(data["version"]),
            status=ExecutionStatus(data["status"]),
            input=data.get("input"),
            steps=tuple(Step.from_json(s) for s in data.get("steps") or ()),
            error=ExecutionError(
                step=_opt_str(error.get("step")),
                message=str(error.get("message")),
                direction=_opt_str(error.get("direction")),
            )
            if isinstance(error, Mapping)
            else None,
            trace_id=_opt_str(data.get("trace_id")),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            deadline_at=_time(data.get("deadline_at")),
            cancel_requested=bool(data.get("cancel_requested", False)),
            idempotency_key=_opt_str(data.get("idempotency_key")),
            raw=data,
            next_attempt=NextAttempt.from_json(data.get("next_attempt")),
            key=_opt_str(data.get("key")),
            attention=_opt_str(data.get("attention")),
            output=data.get("output"),
            output_error=_opt_str(data.get("output_error")),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of an execution's append-only history (`GET /v1/executions/{id}/events`)."""

    seq: int
    at: datetime | None
    type: HistoryEventType | str
    """A `HistoryEventType`; a type this client does not know yet (a newer server) stays a string."""
    step: str | None
    direction: str | None
    """"action" or "compensation" for step events."""
    attempt: int | None
    status_code: int | None
    error: str | None
    delay_ms: int | None
    duration_ms: int | None
    raw: Json = field(repr=False, compare=False, hash=False)
    request: Json | None = field(default=None, hash=False)
    """Attempts: the request as sent `{method, url, headers, body, truncated?}`."""
    response: Json | None = field(default=None, hash=False)
    """Attempts: the answer `{status, headers, body, truncated?}`, when one came."""
    note: str | None = None
    """`compensation_resolved`: the operator's note."""
    actor: str | None = None
    """`compensation_resolved`: who resolved it."""

    @classmethod
    def from_json(cls, data: Json) -> Event:
        """Read one history entry."""
        return cls(
            seq=int(data["seq"]),
            at=_time(data.get("at")),
            type=_event_type(str(data["type"])),
            step=_opt_str(data.get("step")),
            direction=_opt_str(data.get("direction")),
            attempt=_opt_int(data.get("attempt")),
            status_code=_opt_int(data.get("status_code")),
            error=_opt_str(data.get("error")),
            delay_ms=_opt_int(data.get("delay_ms")),
            duration_ms=_opt_int(data.get("duration_ms")),
            raw=data,
            request=_opt_map(data.get("request")),
            response=_opt_map(data.get("response")),
            note=_opt_str(data.get("note")),
            actor=_opt_str(data.get("actor")),
        )


@dataclass(frozen=True, slots=True)
class BulkResult:
    """One execution's outcome in a bulk action: accepted, not_applicable, not_found or error."""

    id: str
    outcome: str
    detail: str


@dataclass(frozen=True, slots=True)
class BulkReport:
    """The answer to a bulk cancel or retry."""

    results: tuple[BulkResult, ...]
    more: bool
    """The filter matched more executions than the limit: run it again for the next ones."""
    dry_run: bool

    @classmethod
    def from_json(cls, data: Json) -> BulkReport:
        """Read `POST /v1/executions/cancel|retry`'s answer."""
        results = tuple(
            BulkResult(id=str(r["id"]), outcome=str(r["outcome"]), detail=str(r.get("detail") or ""))
            for r in data.get("results") or ()
        )
        return cls(results=results, more=bool(data.get("more", False)), dry_run=bool(data.get("dry_run", False)))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; pass `next_cursor` back to get the next (None: this was the last)."""

    items: tuple[T, ...]
    next_cursor: str | None


def parse(reader: Callable[[Json], T], data: Any) -> T:
    """`reader(data)`, or UnexpectedResponse when the JSON does not have the expected shape."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponse(f"{_UNEXPECTED}: expected a JSON object, got {type(data).__name__}")
    try:
        return reader(data)
    except (KeyError, TypeError, ValueError) as error:
        raise UnexpectedResponse(f"{_UNEXPECTED}: a field is missing or wrong ({error!r})") from error


def parse_page(reader: Callable[[Json], T], data: Any) -> Page[T]:
    """A `{items, next_cursor}` answer."""
    if not isinstance(data, Mapping) or not isinstance(data.get("items"), list):
        raise UnexpectedResponse(f"{_UNEXPECTED}: expected a JSON object with a list of items")
    cursor = data.get("next_cursor")
    return Page(items=tuple(parse(reader, item) for item in data["items"]), next_cursor=_opt_str(cursor))


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _time(value: Any) -> datetime | None:
    """ISO-8601 (`2026-11-27T05:40:44.123Z`) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def _event_type(text: str) -> HistoryEventType | str:
    try:
        return HistoryEventType(text)
    except ValueError:
        return text


def _opt_map(value: Any) -> Json | None:
    return value if isinstance(value, Mapping) else None
