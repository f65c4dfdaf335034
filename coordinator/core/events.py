"""What can happen to an execution. Each is fed to `decide()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coordinator.core.outcome import StepOutcome
from coordinator.core.state import CallbackOutcome, Direction, ExecutionError


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptCompleted:
    """The executor finished one attempt (or refused to send it)."""

    step: int
    direction: Direction
    attempt: int
    outcome: StepOutcome


@dataclass(frozen=True, slots=True, kw_only=True)
class WakeupFired:
    """A scheduled retry is due."""

    step: int
    direction: Direction
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackReceived:
    """A participant reported the outcome of an asynchronous attempt on its callback URL."""

    step: int
    direction: Direction
    attempt: int
    outcome: CallbackOutcome
    body: Any = None
    """On success: what later templates read as `steps.<name>.response.body`."""
    error: str | None = None
    """On failure: the participant's reason, shown in the execution's error."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatReceived:
    """A participant said an asynchronous attempt is still being worked on."""

    step: int
    direction: Direction
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRequested:
    """An operator asked to stop the forward phase and roll back."""

    reason: str = "cancelled by operator"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryRequested:
    """An operator asked to try the remaining compensations of a `failed` execution again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolveRequested:
    """An operator says the failed compensation of step `step` was done by hand.

    Applies to a `failed` execution whose step is `compensation_failed` (see
    `core.resolve.resolve_problem`); anywhere else the machine leaves the state unchanged.
    """

    step: int
    note: str
    actor: str | None = None
    """Who says so (the API token's name)."""
    rollback_cause: ExecutionError | None = None
    """Why the rollback began (its `rollback_started` entry): once the compensation that failed is
    resolved, that is again what the execution's `error` says. None leaves the error as it is."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed:
    """The coordinator (re)took charge of the execution, e.g. after a restart."""

    sending: frozenset[tuple[int, Direction, int]] = frozenset()
    """The calls (step, direction, attempt) this process is still sending: their outcomes are on
    their way, so they are not sent again (a second copy would run beside the first)."""
    others_may_be_sending: bool = True
    """Whether a call recorded as started may still be in flight from another process (a takeover,
    a restart): then it is sent again only once that send's deadline has passed. False when this
    process owned the execution all along (a re-drive after a failed commit): what it is not
    sending is in flight nowhere, and goes out at once."""


Event = (
    AttemptCompleted
    | WakeupFired
    | CallbackReceived
    | HeartbeatReceived
    | CancelRequested
    | RetryRequested
    | ResolveRequested
    | Resumed
)
