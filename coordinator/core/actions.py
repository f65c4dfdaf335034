"""What the machine asks the engine to do after a decision."""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.core.history import HistoryEvent
from coordinator.core.state import Direction, ExecutionState


@dataclass(frozen=True, slots=True, kw_only=True)
class CallStep:
    """Send one attempt of a step's call, not before `started_at_ms`, and give up on it at
    `started_at_ms + timeout_ms`: the deadline counts from the write-ahead, so a send never
    outlives what the stored attempt says (a re-send after a crash relies on that)."""

    step: int
    step_name: str
    direction: Direction
    attempt: int
    idempotency_key: str
    timeout_ms: int
    started_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ArmWakeup:
    """Wake the execution at `due_at_ms` to start `attempt`."""

    step: int
    direction: Direction
    attempt: int
    due_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DisarmWakeup:
    """The pending wake-up of step `step` in `direction` is no longer wanted."""

    step: int
    direction: Direction


Action = CallStep | ArmWakeup | DisarmWakeup


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The result of one event: the new state, what to do, and what to record."""

    state: ExecutionState
    actions: tuple[Action, ...] = ()
    history: tuple[HistoryEvent, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the state must be committed: every change is recorded in the history."""
        return bool(self.history)
