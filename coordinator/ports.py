"""The interfaces between the engine and its I/O. Their docstrings are the contract.

`store`, `executor`, `timers` and `telemetry` implement these; the engine depends only on them.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from coordinator.core.history import HistoryEvent
from coordinator.core.outcome import StepOutcome
from coordinator.core.spec import CallSpec, SagaSpec
from coordinator.core.state import Direction, ExecutionState, ExecutionStatus

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset-paginated list; `next_cursor` is None on the last page."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDefinition:
    """A registered saga version: the normalised document and its digest."""

    name: str
    version: int
    document: dict[str, Any]
    """The definition as registered (JSON types), `version` included."""
    digest: str
    """sha256 of the canonical JSON of the document without `version`: equal bodies, equal digest."""
    created_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionRecord:
    """An execution as stored: its state plus what does not change after start."""

    state: ExecutionState
    input: Any
    idempotency_key: str | None = None
    request_digest: str | None = None
    """sha256 of the start request (input and version), to tell a replay from a key reuse."""
    trace_context: dict[str, str] = field(default_factory=dict)
    """W3C carrier (`traceparent`, `tracestate`) of the execution's root span."""
    owner: str | None = None
    """The coordinator process whose lease covers the execution (None: nobody drives it)."""
    epoch: int = 0
    """The fencing token: incremented by every claim; an owner's writes carry the epoch it claimed."""
    quarantined: str | None = None
    """Why recovery stopped driving it (it crashed the coordinator repeatedly); None normally."""
    business_key: str | None = None
    """The definition's `key:` rendered over the input at start (SPEC section 8); None without one."""

    def attention_reason(self, now_ms: int) -> AttentionReason | None:
        """Why the execution needs an operator at `now_ms`, or None when it does not."""
        state = self.state
        if state.status is ExecutionStatus.FAILED:
            return AttentionReason.FAILED
        if self.quarantined is not None:
            return AttentionReason.QUARANTINED
        if state.attention_at_ms is not None and state.attention_at_ms <= now_ms:
            return AttentionReason.WAITING if state.waits else AttentionReason.STALLED
        return None


class AttentionReason(StrEnum):
    """Why an execution needs an operator (`?attention=true`, `saga_executions_needing_attention`)."""

    FAILED = "failed"
    """A compensation failed for good: retry or resolve it."""
    QUARANTINED = "quarantined"
    """Recovery stopped driving it: it kept crashing the coordinator."""
    STALLED = "stalled"
    """Unfinished, and no new history for longer than its saga's `alert_after`."""
    WAITING = "waiting"
    """Stalled while a step waits for its participant's callback (no callback or heartbeat came)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionQuery:
    """Which executions a list shows; every field given narrows it (they combine with AND)."""

    saga: str | None = None
    status: ExecutionStatus | None = None
    key: str | None = None
    """The business key, exactly."""
    id_prefix: str | None = None
    """The start of the execution id (to find one from a short id)."""
    created_after_ms: int | None = None
    """Inclusive."""
    created_before_ms: int | None = None
    """Exclusive."""
    attention_at_ms: int | None = None
    """Only executions needing attention at this time (failed, quarantined, or stalled)."""


EVERY_EXECUTION = ExecutionQuery()
"""The query that narrows nothing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttentionCount:
    """How many executions of one saga need attention for one reason."""

    saga: str
    reason: AttentionReason
    count: int


@dataclass(frozen=True, slots=True)
class Purged:
    """What one batch of retention deleted, and how long the database work took."""

    deleted: int
    busy_s: float
    """Seconds spent reading, archiving and deleting, not waiting for a thread or a group commit:
    what the batch cost, which retention's pacing sizes batches by (on a busy box the wait for
    the writer is most of a batch's latency, whatever its size)."""


ArchiveWriter = Callable[[list[str]], None]
"""Receives executions about to be deleted, each as one line of JSON text (`{execution, steps,
history}`, no newline), and makes them durable before it returns: only then is the delete
committed; raising aborts the delete."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """A process's right to drive one execution: its owner id and the epoch it claimed."""

    owner: str
    epoch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """An execution a claim took over, with the epoch it now carries."""

    execution_id: str
    epoch: int
    recovery_attempts: int = 0
    """Resumptions begun since its last progress: above 0, an earlier one may have crashed its process."""


@dataclass(frozen=True, slots=True)
class Resumption:
    """A claimed execution about to be resumed by a recovery: as stored, and its recovery count."""

    record: ExecutionRecord
    attempts: int
    """Resumptions begun since its last progress, this one included."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    """A history entry with its position in the execution's history (1-based, gapless)."""

    seq: int
    event: HistoryEvent


class SagaStore(abc.ABC):
    """Durable storage of definitions, executions, their history and their pending actions.

    Every method is safe to call concurrently from one event loop. A commit is atomic: the new
    state, its history entries and its pending action are written together or not at all.
    """

    @abc.abstractmethod
    async def add_definition(self, definition: StoredDefinition) -> tuple[StoredDefinition, bool]:
        """Store a new version; return it and True.

        If (name, version) exists with the same digest, return the stored one and False.
        Raises:
            DefinitionConflict: (name, version) exists with a different digest.
        """

    @abc.abstractmethod
    async def get_definition(self, name: str, version: int | None = None) -> StoredDefinition:
        """One version, or the latest when `version` is None.

        Raises:
            SagaNotFound: no version of `name` exists.
            SagaVersionNotFound: `name` exists but not `version`.
        """

    @abc.abstractmethod
    async def list_definitions(self, *, limit: int, cursor: str | None = None) -> Page[StoredDefinition]:
        """The latest version of every saga, ordered by name."""

    @abc.abstractmethod
    async def list_versions(self, name: str, *, limit: int, cursor: str | None = None) -> Page[StoredDefinition]:
        """Every version of `name`, newest first. Raises SagaNotFound if there is none."""

    @abc.abstractmethod
    async def create_execution(
        self,
        record: ExecutionRecord,
        history: tuple[HistoryEvent, ...],
        *,
        owner: str | None = None,
        lease_ms: int = 0,
    ) -> tuple[ExecutionRecord, bool]:
        """Insert a new execution with its first history entries and pending action.

        With `owner`, the new execution is leased to it for `lease_ms` at epoch 1.

        With an idempotency key already used for the same saga: return the existing record and
        False if its `request_digest` is equal, else raise IdempotencyConflict. Two concurrent
        calls with one key create one execution.
        """

    @abc.abstractmethod
    async def load_execution(self, execution_id: str) -> ExecutionRecord:
        """The execution as last committed. Raises ExecutionNotFound."""

    @abc.abstractmethod
    async def commit(
        self,
        state: ExecutionState,
        history: tuple[HistoryEvent, ...],
        *,
        expected_revision: int,
        lease: Lease | None = None,
        previous: ExecutionState | None = None,
    ) -> ExecutionState:
        """Write a decision: the state, its history and its pending action, atomically.

        `previous` (optional) is the state at `expected_revision`: a store may diff against it
        instead of reading the stored rows again.

        With `lease`, the write also requires that owner and epoch to be current (fencing), and
        resets the execution's recovery count (it made progress). Raises Fenced when they are not.

        Succeeds only if the stored revision equals `expected_revision`; returns the state with
        `revision = expected_revision + 1`. Raises StaleRevision otherwise, ExecutionNotFound for an
        unknown id, and ValueError for a state with both a call in flight and a wake-up (one pending
        action per execution; the machine never produces that). After StoreUnavailable the write may
        or may not have committed: reload before deciding again.
        """

    @abc.abstractmethod
    async def list_executions(
        self,
        query: ExecutionQuery = EVERY_EXECUTION,
        *,
        limit: int,
        cursor: str | None = None,
        brief: bool = False,
    ) -> Page[ExecutionRecord]:
        """Executions matching `query`, newest first (created_at, then id).

        Each filter is served by an index (the key, the attention time, the id's primary key), so a
        page costs about the same with a million rows stored as with a hundred.

        With `brief`, every step's `response` and `last_exchange` are None: they are neither read
        nor decoded (the bulk of a page, which a list row does not show). A brief record is for
        display only: never commit from it.
        """

    @abc.abstractmethod
    async def attention_counts(self, now_ms: int) -> list[AttentionCount]:
        """How many executions need attention at `now_ms`, by saga and reason: one indexed query."""

    @abc.abstractmethod
    async def count_waiting(self) -> dict[str, int]:
        """How many steps wait for a participant's callback now, by saga (sagas with none left out)."""

    @abc.abstractmethod
    async def note_attention(self, now_ms: int, *, limit: int) -> list[ExecutionRecord]:
        """Executions that need attention at `now_ms` and were not noted since their last commit.

        Marks them noted in the same write, so across replicas each is returned once per episode
        (a commit clears the mark): the caller logs one warning per execution that starts needing
        attention.
        """

    @abc.abstractmethod
    async def purge_finished(
        self, finished_before_ms: int, *, limit: int, archive: ArchiveWriter | None = None
    ) -> Purged:
        """Delete up to `limit` `completed` or `compensated` executions that finished before
        `finished_before_ms` (the oldest first), with their steps, history and pending actions, in
        one transaction; `archive` receives them first, and the delete commits only after it
        returned. Says how many were deleted. `failed` ones are never deleted."""

    @abc.abstractmethod
    async def count_finished(self, finished_before_ms: int) -> int:
        """How many `completed` or `compensated` executions finished before `finished_before_ms`."""

    @abc.abstractmethod
    async def count_by_status(self, *, saga: str | None = None) -> dict[ExecutionStatus, int]:
        """How many executions are in each status (of one saga when given): one grouped count.

        Statuses without an execution are absent from the result.
        """

    @abc.abstractmethod
    async def list_events(
        self, execution_id: str, *, after_seq: int = 0, limit: int, exchanges: bool = True
    ) -> Page[StoredEvent]:
        """History entries with seq > `after_seq`, oldest first. Raises ExecutionNotFound.

        `next_cursor` is the last seq of the page as text, to be passed back as `after_seq`.

        Without `exchanges`, every entry's `request` and `response` are None: they are neither
        read nor decoded (most of the cost of a long history), for a view that shows the outline
        of every attempt and what was said for a few (see `events_at`).
        """

    @abc.abstractmethod
    async def events_at(self, execution_id: str, seqs: Collection[int]) -> list[StoredEvent]:
        """The history entries at the positions `seqs`, in full, oldest first; positions the
        history does not have are left out. Raises ExecutionNotFound."""

    @abc.abstractmethod
    async def claim(
        self, owner: str, *, lease_ms: int, limit: int, ids: list[str] | None = None, force: bool = False
    ) -> list[Claim]:
        """Lease up to `limit` unfinished, unquarantined executions to `owner`, oldest first.

        Eligible: no owner, or another owner's lease expired by the database's clock (any other
        owner's lease with `force`; never ours, which may have a call in flight here),
        restricted to `ids` when given (with `force` and `ids`, terminal executions too: an
        operator retry takes a `failed` one). Each claim increments the epoch, fencing every
        earlier owner. Concurrent claimers never get the same execution (`FOR UPDATE SKIP LOCKED`
        on PostgreSQL).
        """

    @abc.abstractmethod
    async def note_recovery(self, execution_id: str) -> int:
        """Count one attempt to resume the execution (before it is driven); return the count.

        A commit by its owner, or a lease renewal, resets the count: only an execution that
        keeps taking its coordinator down before any progress reaches the quarantine limit.
        """

    @abc.abstractmethod
    async def begin_resumption(self, execution_ids: Sequence[str]) -> list[Resumption]:
        """Count one attempt to resume each execution (as `note_recovery`) and load it, for a recovery.

        A recovery resumes thousands of claimed executions: a store does this for a whole batch
        at once (one transaction on SQL) instead of two round trips per execution. Executions
        that no longer exist are left out.
        """

    @abc.abstractmethod
    async def renew(self, owner: str, *, lease_ms: int) -> int:
        """Extend every lease `owner` holds on an unfinished execution; return how many."""

    @abc.abstractmethod
    async def release(self, owner: str) -> int:
        """Give up `owner`'s leases (on shutdown) so another process can claim them at once."""

    @abc.abstractmethod
    async def quarantine(self, execution_id: str, reason: str, *, now_ms: int) -> None:
        """Stop recovery from driving the execution (it keeps crashing the coordinator); it needs
        attention from `now_ms`."""

    @abc.abstractmethod
    async def unquarantine(self, execution_id: str) -> None:
        """Let recovery drive the execution again (operator retry), with a fresh recovery count."""

    @abc.abstractmethod
    async def server_key(self, name: str, candidate: str, *, now_ms: int) -> str:
        """The shared key called `name`: the stored one, or `candidate` stored now if there is none.

        Every replica that asks gets the same value, even when several ask at once for the first
        time (one insert wins; the others read it).
        """

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return if the database answers; raise StoreUnavailable if not (StorageFull if it
        answers but a write failed for want of space, and there is still none)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and threads."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundRequest:
    """A fully rendered participant call, ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any = None
    timeout_ms: int
    call: CallSpec
    """The call's definition: its `success` and `retry_on` decide the classification."""
    is_compensation: bool = False
    trace_carrier: dict[str, str] = field(default_factory=dict)
    """W3C carrier of the step's span: the parent of this attempt's HTTP client span."""
    span_attributes: dict[str, str | int] = field(default_factory=dict)
    """Attributes for the attempt's span (`saga.*`)."""
    redact: frozenset[str] = frozenset()
    """Secret values in the URL or headers: never recorded (replaced by `***`)."""


class StepExecutor(abc.ABC):
    """Sends one attempt and classifies what came back. Never raises for participant failures."""

    @abc.abstractmethod
    async def send(self, request: OutboundRequest) -> StepOutcome:
        """Send `request` once, within its timeout, and classify the answer.

        The outcome's error and kept response never contain a value of `request.redact` (in any
        spelling a participant may echo it back in): the engine records the outcome as it is.
        """


TRACE_HEADERS = ("traceparent", "tracestate")
"""The W3C trace context headers."""


class AttemptSpan(abc.ABC):
    """One attempt's HTTP client span, open from just before the request is sent until its outcome is known."""

    @property
    @abc.abstractmethod
    def headers(self) -> dict[str, str]:
        """The trace headers to send with the request, naming this span as the participant's parent."""

    @abc.abstractmethod
    def finish(self, outcome: StepOutcome) -> None:
        """Record the classified (already redacted) outcome and end the span."""

    @abc.abstractmethod
    def abort(self, error: BaseException) -> None:
        """The attempt was interrupted (cancelled, or our own fault): record `error` and end the span."""


class AttemptTracer(abc.ABC):
    """Opens the span of each attempt the executor sends (telemetry implements it). Must not raise."""

    @abc.abstractmethod
    def start(self, request: OutboundRequest, *, url: str) -> AttemptSpan:
        """Open the span of `request`, a child of its `trace_carrier`; `url` is the URL to record (redacted)."""


class UnrecordedSpan(AttemptSpan):
    """Records nothing; the request carries the trace headers it was given (the step's context, say)."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    @property
    def headers(self) -> dict[str, str]:
        """The trace headers given."""
        return self._headers

    def finish(self, outcome: StepOutcome) -> None:
        """Nothing to record."""

    def abort(self, error: BaseException) -> None:
        """Nothing to record."""


class NullAttemptTracer(AttemptTracer):
    """Records no span; the participant still gets the step's trace context, as the carrier holds it."""

    def start(self, request: OutboundRequest, *, url: str) -> AttemptSpan:
        """An unrecorded span carrying the request's `traceparent` and `tracestate` on."""
        return UnrecordedSpan({k: v for k in TRACE_HEADERS if (v := request.trace_carrier.get(k))})


WakeupCallback = Callable[[], Awaitable[None]]


class TimerService(abc.ABC):
    """Wakes an execution up at a due time. Only a wake-up: the due time is persisted elsewhere."""

    @abc.abstractmethod
    def arm(self, key: str, due_at_ms: int, callback: WakeupCallback) -> None:
        """Call `callback` at `due_at_ms` (at once if past). Re-arming a key replaces it."""

    @abc.abstractmethod
    def disarm(self, key: str) -> None:
        """Forget the wake-up under `key`, if any."""

    @abc.abstractmethod
    def every(self, key: str, seconds: float, callback: WakeupCallback) -> None:
        """Call `callback` every `seconds` (one run at a time; a late run is not doubled)."""

    @abc.abstractmethod
    def start(self) -> None:
        """Begin firing wake-ups (must run inside the event loop)."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Stop firing wake-ups."""

    @abc.abstractmethod
    def pending(self) -> int:
        """How many wake-ups are armed."""


class ExecutionObserver(abc.ABC):
    """Told of every committed decision (telemetry). Called after commit; must not raise."""

    @abc.abstractmethod
    async def committed(
        self, record: ExecutionRecord, history: tuple[HistoryEvent, ...], *, spec: SagaSpec | None = None
    ) -> None:
        """`record` was just committed with these new history entries; `spec` is the saga version it
        runs (its groups and pivot), when the caller has it."""

    @abc.abstractmethod
    def resumed(self, record: ExecutionRecord) -> None:
        """Recovery took charge of an unfinished execution."""

    @abc.abstractmethod
    def attention_counted(self, counts: list[AttentionCount]) -> None:
        """The executions needing attention now, by saga and reason (the whole picture, every time)."""

    @abc.abstractmethod
    def needs_attention(self, record: ExecutionRecord, reason: AttentionReason) -> None:
        """`record` has just started to need an operator (told once per episode, by one replica)."""

    def waiting_counted(self, counts: dict[str, int]) -> None:  # noqa: B027  # optional: a no-op by default
        """The steps waiting for a callback now, by saga (the whole picture, every time)."""

    def callback_answered(self, outcome: str) -> None:  # noqa: B027  # optional: a no-op by default
        """A callback or heartbeat was answered: `succeeded`, `failed` or `heartbeat` when recorded;
        else `duplicate`, `conflict`, `superseded` or `not_found`."""


class NullObserver(ExecutionObserver):
    """Observes nothing."""

    async def committed(
        self, record: ExecutionRecord, history: tuple[HistoryEvent, ...], *, spec: SagaSpec | None = None
    ) -> None:
        """Nothing."""

    def resumed(self, record: ExecutionRecord) -> None:
        """Nothing."""

    def attention_counted(self, counts: list[AttentionCount]) -> None:
        """Nothing."""

    def needs_attention(self, record: ExecutionRecord, reason: AttentionReason) -> None:
        """Nothing."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptTrace:
    """Where one attempt sits in its execution's trace."""

    carrier: dict[str, str] = field(default_factory=dict)
    """W3C carrier of the step's span: the parent of the attempt's HTTP client span."""
    attributes: dict[str, str | int] = field(default_factory=dict)
    """Attributes for the attempt's span (`saga.*`)."""


class TraceContexts(abc.ABC):
    """Trace identities of executions and attempts, so every span of a saga lands in one trace.

    The engine stores what `new_execution` returns on the execution row and asks `attempt` for
    each call it sends; it never learns how a trace context is spelt.
    """

    @abc.abstractmethod
    def new_execution(self, caller_headers: Mapping[str, str] | None) -> dict[str, str]:
        """The carrier of a new execution's root span; a valid caller's `traceparent` is its parent."""

    @abc.abstractmethod
    def attempt(self, record: ExecutionRecord, step: str, direction: Direction, attempt: int) -> AttemptTrace:
        """The carrier and span attributes of one attempt of `step` in `direction`.

        Derived from the stored carrier alone, so an attempt re-sent by another process after a
        crash gets the same parent as the first send.
        """


class NullTraceContexts(TraceContexts):
    """No tracing: executions carry no trace context, attempts no parent."""

    def new_execution(self, caller_headers: Mapping[str, str] | None) -> dict[str, str]:
        """An empty carrier."""
        return {}

    def attempt(self, record: ExecutionRecord, step: str, direction: Direction, attempt: int) -> AttemptTrace:
        """No parent, no attributes."""
        return AttemptTrace()


class Clock(abc.ABC):
    """Wall-clock time in epoch milliseconds; injected so tests control time."""

    @abc.abstractmethod
    def now_ms(self) -> int:
        """Milliseconds since the epoch, UTC."""
