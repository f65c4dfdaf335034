"""A scratch pad for one decision: the machine edits a copy, then freezes it into a `Decision`."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import Any, Final

from coordinator.core.actions import Action, Decision, DisarmWakeup
from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.outcome import ResponseSnapshot
from coordinator.core.spec import SagaSpec, StepSpec
from coordinator.core.state import (
    AttemptExchange,
    Direction,
    ExecutionError,
    ExecutionState,
    ExecutionStatus,
    InFlightCall,
    OperatorResolution,
    PendingWait,
    PendingWakeup,
    RecordedCallback,
    StepState,
    StepStatus,
)


class Keep(Enum):
    """The default of `Draft.update` and `Draft.update_step`: leave the field as it is (None is a value)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


def _given(**values: object) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not KEEP}


def attention_at(spec: SagaSpec, state: ExecutionState, now_ms: int) -> int | None:
    """When `state`, changed at `now_ms`, needs attention: now if it failed, after `alert_after` of
    silence if it is unfinished, never once it completed or was compensated."""
    if state.status is ExecutionStatus.FAILED:
        return now_ms
    if state.status.is_terminal:
        return None
    return now_ms + spec.alert_after_ms


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

    def update_step(
        self,
        index: int,
        *,
        status: StepStatus | Keep = KEEP,
        attempts: int | Keep = KEEP,
        compensation_attempts: int | Keep = KEEP,
        compensation_budget_base: int | Keep = KEEP,
        attempt_budget_base: int | Keep = KEEP,
        effect_possible: bool | Keep = KEEP,
        last_error: str | Keep | None = KEEP,
        last_status_code: int | Keep | None = KEEP,
        started_at_ms: int | Keep | None = KEEP,
        finished_at_ms: int | Keep | None = KEEP,
        deadline_at_ms: int | Keep | None = KEEP,
        response: ResponseSnapshot | Keep | None = KEEP,
        last_exchange: AttemptExchange | Keep | None = KEEP,
        resolution: OperatorResolution | Keep | None = KEEP,
        callbacks: tuple[RecordedCallback, ...] | Keep = KEEP,
    ) -> None:
        """Replace the given fields of step `index` (keyword by keyword, so a misspelt one does not type-check)."""
        changes = _given(
            status=status,
            attempts=attempts,
            compensation_attempts=compensation_attempts,
            compensation_budget_base=compensation_budget_base,
            attempt_budget_base=attempt_budget_base,
            effect_possible=effect_possible,
            last_error=last_error,
            last_status_code=last_status_code,
            started_at_ms=started_at_ms,
            finished_at_ms=finished_at_ms,
            deadline_at_ms=deadline_at_ms,
            response=response,
            last_exchange=last_exchange,
            resolution=resolution,
            callbacks=callbacks,
        )
        self.state = self.state.with_step(index, replace(self.state.steps[index], **changes))

    def update(
        self,
        *,
        status: ExecutionStatus | Keep = KEEP,
        in_flight: InFlightCall | Keep | None = KEEP,
        wakeup: PendingWakeup | Keep | None = KEEP,
        member_calls: tuple[InFlightCall, ...] | Keep = KEEP,
        member_wakeups: tuple[PendingWakeup, ...] | Keep = KEEP,
        waits: tuple[PendingWait, ...] | Keep = KEEP,
        cancel_reason: str | Keep | None = KEEP,
        error: ExecutionError | Keep | None = KEEP,
    ) -> None:
        """Replace the given fields of the execution (its identity, times and revision are not the machine's)."""
        changes = _given(
            status=status,
            in_flight=in_flight,
            wakeup=wakeup,
            member_calls=member_calls,
            member_wakeups=member_wakeups,
            waits=waits,
            cancel_reason=cancel_reason,
            error=error,
        )
        self.state = replace(self.state, **changes)

    def put_call(self, call: InFlightCall) -> None:
        """Record `call` as in flight: a lone step's in `in_flight`, a group member's beside its siblings'."""
        if self.step_spec(call.step).group is None:
            self.update(in_flight=call)
            return
        others = [c for c in self.state.member_calls if (c.step, c.direction) != (call.step, call.direction)]
        # In step order, as the store reads them back, so a committed state equals its reload.
        self.update(member_calls=tuple(sorted([*others, call], key=lambda c: (c.step, c.direction.value))))

    def drop_call(self, index: int, direction: Direction) -> None:
        """Step `index` has no call in flight in `direction` any more."""
        if self.step_spec(index).group is None:
            self.update(in_flight=None)
            return
        calls = self.state.member_calls
        self.update(member_calls=tuple(c for c in calls if (c.step, c.direction) != (index, direction)))

    def put_wakeup(self, wakeup: PendingWakeup) -> None:
        """Record `wakeup` as scheduled, in the lone slot or beside the other members'."""
        if self.step_spec(wakeup.step).group is None:
            self.update(wakeup=wakeup)
            return
        key = (wakeup.step, wakeup.direction)
        others = [w for w in self.state.member_wakeups if (w.step, w.direction) != key]
        self.update(member_wakeups=tuple(sorted([*others, wakeup], key=lambda w: (w.step, w.direction.value))))

    def drop_wakeup(self, index: int, direction: Direction) -> None:
        """Step `index` has no wake-up scheduled in `direction` any more."""
        if self.step_spec(index).group is None:
            self.update(wakeup=None)
            return
        wakeups = self.state.member_wakeups
        self.update(member_wakeups=tuple(w for w in wakeups if (w.step, w.direction) != (index, direction)))

    def put_wait(self, wait: PendingWait) -> None:
        """Record `wait` (replacing any wait of the same step and direction), in step order."""
        key = (wait.step, wait.direction)
        others = [w for w in self.state.waits if (w.step, w.direction) != key]
        self.update(waits=tuple(sorted([*others, wait], key=lambda w: (w.step, w.direction.value))))

    def drop_wait(self, index: int, direction: Direction) -> None:
        """Step `index` no longer waits for a callback in `direction`."""
        self.update(waits=tuple(w for w in self.state.waits if (w.step, w.direction) != (index, direction)))

    def disarm_wakeups(self) -> tuple[PendingWakeup, ...]:
        """Disarm every scheduled retry; return what was scheduled."""
        wakeups = self.state.wakeups
        for w in wakeups:
            self.act(DisarmWakeup(step=w.step, direction=w.direction))
        self.update(wakeup=None, member_wakeups=())
        return wakeups

    def halted(self) -> str | None:
        """Why no new forward attempt may start, or None: an operator's cancel, or a group member
        that failed for good while its siblings' calls are still in flight (fail fast)."""
        state = self.state
        if state.cancel_reason is not None:
            return state.cancel_reason
        if state.status is ExecutionStatus.RUNNING and state.error is not None and state.error.direction is None:
            return state.error.message
        return None

    def pivot_passed(self) -> bool:
        """Whether the pivot succeeded: from then on the saga only goes forward (SPEC section 7.2)."""
        pivot = self.spec.pivot_index
        return pivot is not None and self.step(pivot).status is StepStatus.SUCCEEDED

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
        attention = attention_at(self.spec, self.state, self.now)
        return Decision(
            state=replace(
                self.state,
                updated_at_ms=self.now,
                finished_at_ms=self.now if self.state.status.is_terminal else None,
                attention_at_ms=attention,
            ),
            actions=tuple(self.actions),
            history=tuple(self.history),
        )
