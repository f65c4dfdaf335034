"""The persisted state of one execution. Immutable values; the machine returns new ones."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from coordinator.core.outcome import RequestSnapshot, ResponseSnapshot


class ExecutionStatus(StrEnum):
    """Where an execution stands. `completed`, `compensated` and `failed` are terminal."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """Whether nothing more happens to the execution (unless an operator retries `failed`)."""
        return self in _TERMINAL


_TERMINAL = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.COMPENSATED, ExecutionStatus.FAILED})


class StepStatus(StrEnum):
    """Where one step stands."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    """The participant answered `202`: the step waits for its callback (SPEC section 7.3)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"
    SKIPPED = "skipped"


class Direction(StrEnum):
    """Which of a step's two calls an attempt belongs to."""

    ACTION = "action"
    COMPENSATION = "compensation"


@dataclass(frozen=True, slots=True, kw_only=True)
class InFlightCall:
    """The attempt that was recorded as started and whose outcome is not yet recorded.

    It is written before the request is sent (write-ahead), so after a crash recovery knows
    exactly which call may be outstanding and re-sends it under the same idempotency key.
    """

    step: int
    direction: Direction
    attempt: int
    timeout_ms: int
    started_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingWakeup:
    """A scheduled retry: the due time lives here, in the database, not in the scheduler."""

    step: int
    direction: Direction
    attempt: int
    """The attempt that starts when the wake-up fires."""
    due_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingWait:
    """An asynchronous attempt that answered `202` and waits for its callback (SPEC section 7.3).

    Its deadlines live here, in the database: `due_at_ms` is the next wake-up (the heartbeat
    deadline, or the timeout when that comes first or there is no heartbeat), so a restart
    re-arms it and a callback to any replica finds the attempt still waiting.
    """

    step: int
    direction: Direction
    attempt: int
    since_ms: int
    """When the `202` was recorded."""
    timeout_at_ms: int
    """When the wait ends without a callback: an unknown outcome."""
    due_at_ms: int
    """The next wake-up: the heartbeat deadline or `timeout_at_ms`, whichever comes first."""


class CallbackOutcome(StrEnum):
    """What a participant reported on its callback URL."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedCallback:
    """The callback recorded for one attempt, kept so a repeat is told from a conflicting one."""

    direction: Direction
    attempt: int
    outcome: CallbackOutcome


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionError:
    """Why an execution did not complete: the step and a human-readable message."""

    step: str | None
    message: str
    direction: Direction | None = None
    """`action` when a forward call failed past the pivot (nothing is rolled back); None otherwise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptExchange:
    """What was said in one attempt: the request as sent and the response, when either exists.

    Both are None for an attempt that was never sent (a template error) or never answered
    (a refused connection, a timeout).
    """

    direction: Direction
    attempt: int
    request: RequestSnapshot | None = None
    response: ResponseSnapshot | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorResolution:
    """An operator's word that a compensation was done by hand (SPEC section 8, resolve)."""

    note: str
    actor: str | None
    """Who said so (the API token's name); None when the caller is not known."""
    at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StepState:
    """One step of one execution."""

    name: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    compensation_attempts: int = 0
    compensation_budget_base: int = 0
    """Compensation attempts made before the last operator retry; the budget counts from here."""
    attempt_budget_base: int = 0
    """Forward attempts made before an operator retried the step forward (past the pivot)."""
    effect_possible: bool = False
    """The forward call took effect or may have (unknown outcome): rollback compensates it."""
    last_error: str | None = None
    last_status_code: int | None = None
    started_at_ms: int | None = None
    finished_at_ms: int | None = None
    deadline_at_ms: int | None = None
    response: ResponseSnapshot | None = None
    """The forward call's successful response: what later templates read as `steps.<name>.response`."""
    last_exchange: AttemptExchange | None = None
    """The latest attempt of either direction, success or failure, as it was said."""
    resolution: OperatorResolution | None = None
    """Set when an operator resolved the step's failed compensation by hand."""
    callbacks: tuple[RecordedCallback, ...] = ()
    """The latest callback recorded in each direction (at most one per direction)."""

    def callback_of(self, direction: Direction) -> RecordedCallback | None:
        """The latest callback recorded for this step's calls in `direction`, if any."""
        return next((c for c in self.callbacks if c.direction is direction), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionState:
    """Everything the machine needs to decide what happens next to one execution."""

    id: str
    saga: str
    version: int
    status: ExecutionStatus
    steps: tuple[StepState, ...]
    created_at_ms: int
    updated_at_ms: int
    deadline_at_ms: int | None = None
    in_flight: InFlightCall | None = None
    wakeup: PendingWakeup | None = None
    member_calls: tuple[InFlightCall, ...] = ()
    """The calls in flight of parallel group members (one per member and direction at most);
    `in_flight` holds the call of a step outside any group."""
    member_wakeups: tuple[PendingWakeup, ...] = ()
    """The scheduled retries of parallel group members; `wakeup` holds a lone step's."""
    waits: tuple[PendingWait, ...] = ()
    """Asynchronous attempts waiting for their callback, in step order (lone steps and members alike)."""
    cancel_reason: str | None = None
    """Set when an operator cancelled a running execution; rollback follows the call in flight."""
    error: ExecutionError | None = None
    revision: int = 0
    """Incremented on every committed decision; the store's compare-and-set token."""
    finished_at_ms: int | None = None
    """When it reached its terminal status (None while it is not terminal): what retention reads."""
    attention_at_ms: int | None = None
    """When the execution needs (or will need) an operator's attention: when it failed, or when an
    unfinished one will have gone `alert_after` without new history. None once it ended well."""

    @property
    def calls(self) -> tuple[InFlightCall, ...]:
        """Every call in flight: the lone step's, then the group members'."""
        return ((self.in_flight,) if self.in_flight is not None else ()) + self.member_calls

    @property
    def wakeups(self) -> tuple[PendingWakeup, ...]:
        """Every scheduled retry: the lone step's, then the group members'."""
        return ((self.wakeup,) if self.wakeup is not None else ()) + self.member_wakeups

    def call_of(self, step: int, direction: Direction) -> InFlightCall | None:
        """The call in flight of step `step` in `direction`, if any."""
        return next((c for c in self.calls if (c.step, c.direction) == (step, direction)), None)

    def wakeup_of(self, step: int, direction: Direction) -> PendingWakeup | None:
        """The scheduled retry of step `step` in `direction`, if any."""
        return next((w for w in self.wakeups if (w.step, w.direction) == (step, direction)), None)

    def wait_of(self, step: int, direction: Direction) -> PendingWait | None:
        """The wait for a callback of step `step` in `direction`, if any."""
        return next((w for w in self.waits if (w.step, w.direction) == (step, direction)), None)

    @property
    def busy(self) -> bool:
        """Whether any call is in flight, any retry scheduled, or any callback awaited."""
        return bool(self.calls or self.wakeups or self.waits)

    def with_step(self, index: int, step: StepState) -> ExecutionState:
        """A copy with step `index` replaced."""
        steps = list(self.steps)
        steps[index] = step
        return replace(self, steps=tuple(steps))
