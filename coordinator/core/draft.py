"""A scratch pad for one decision: the machine edits a copy, then freezes it into a `Decision`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from coordinator.core.actions import Action, Decision
from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.spec import SagaSpec, StepSpec
from coordinator.core.state import ExecutionState, StepState


class Draft:
    """The state being decided, with the actions and history gathered so far."""

    def __init__(self, spec: SagaSpec, state: ExecutionState, now_ms: int) -> None:
        self.spec = spec
        self.state = state
        self.now = now_ms
        self.actions: list[Action] = []
        self.history: list[HistoryEvent] = []

    def step(self, index: int) -> StepState:
        """The current state of step `index`."""
        return self.state.steps[index]

    def step_spec(self, index: int) -> StepSpec:
        """The definition of step `index`."""
        return self.spec.steps[index]

    def update_step(self, index: int, **changes: Any) -> None:
        """Replace fields of step `index`."""
        self.state = self.state.with_step(index, replace(self.state.steps[index], **changes))

    def update(self, **changes: Any) -> None:
        """Replace fields of the execution."""
        self.state = replace(self.state, **changes)

    def act(self, action: Action) -> None:
        """Ask the engine to do `action` after commit."""
        self.actions.append(action)

    def record(self, type_: HistoryEventType, **fields: Any) -> None:
        """Append a history entry stamped with the decision's time."""
        self.history.append(HistoryEvent(type=type_, at_ms=self.now, **fields))

    def decision(self) -> Decision:
        """Freeze the draft. Without history nothing changed, so the state needs no commit."""
        if not self.history:
            return Decision(state=self.state, actions=tuple(self.actions))
        return Decision(
            state=replace(self.state, updated_at_ms=self.now),
            actions=tuple(self.actions),
            history=tuple(self.history),
        )
