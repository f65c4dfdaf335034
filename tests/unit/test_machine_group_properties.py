"""Property test for parallel groups and the pivot (SPEC sections 7.1, 7.2) against `decide()`.

Random member outcomes in any order, duplicates, late and early wake-ups, cancels, restarts,
operator retries and resolves; every decision is checked against the rules of the two shapes.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from coordinator.core import (
    ArmWakeup,
    AttemptCompleted,
    CallStep,
    CancelRequested,
    Direction,
    ExecutionStatus,
    ResolveRequested,
    Resumed,
    RetryRequested,
    StepStatus,
    WakeupFired,
    begin_execution,
    decide,
    resolve_problem,
)
from coordinator.core.actions import Decision
from coordinator.core.events import Event
from coordinator.core.state import ExecutionState
from tests.unit.machine_helpers import CONFLICT, INVALID, OK, TIMEOUT, UNAVAILABLE, saga, step

SPEC = saga(
    step("a", max_attempts=2, compensation_attempts=2),
    replace(step("b", max_attempts=3, compensation_attempts=2), group="g"),
    replace(step("c", max_attempts=2, compensation_attempts=3, deadline_ms=2_500), group="g"),
    replace(step("d", compensable=False, max_attempts=2), group="g"),
    replace(step("p", compensable=False, max_attempts=2), pivot=True),
    step("e", compensable=False, max_attempts=2),
    replace(step("f", compensable=False, max_attempts=2), group="h"),
    replace(step("h2", compensable=False, max_attempts=3), group="h"),
    deadline_ms=15_000,
)
GROUP_G = (1, 2, 3)
PIVOT = 4
# Mostly successes, so that runs reach the pivot and the steps past it often enough.
OUTCOMES = st.sampled_from([OK] * 9 + [CONFLICT, UNAVAILABLE, TIMEOUT, INVALID])
RARELY = st.integers(0, 3)
"""Cancels and restarts happen when this draws 0, so that most runs get far."""


def _stage(index: int) -> int:
    return next(n for n, stage in enumerate(SPEC.stages()) if index in stage)


class GroupSagaMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000
        first = begin_execution(SPEC, "x", now_ms=self.now)
        self.state = first.state
        self.decisions: list[Decision] = [first]
        self.compensation_stages: list[int] = []
        self.pivot_ever_succeeded = False

    def _apply(self, ev: Event) -> None:
        before = self.state
        decision = decide(SPEC, self.state, ev, now_ms=self.now)
        after = decision.state
        if before.status.is_terminal and not isinstance(ev, RetryRequested | ResolveRequested | CancelRequested):
            assert decision.state is before and not decision.actions, "terminal state must absorb"
        for action in decision.actions:
            if isinstance(action, ArmWakeup) and not isinstance(ev, Resumed):
                assert action.due_at_ms >= self.now, "wake-up scheduled in the past"
            if isinstance(action, CallStep):
                self._check_call(before, after, action, resend=isinstance(ev, Resumed))
        if isinstance(ev, RetryRequested | ResolveRequested) and before.status is ExecutionStatus.FAILED:
            self.compensation_stages.clear()
        self.state = after
        self.decisions.append(decision)
        if after.steps[PIVOT].status is StepStatus.SUCCEEDED:
            self.pivot_ever_succeeded = True

    def _check_call(self, before: ExecutionState, after: ExecutionState, action: CallStep, *, resend: bool) -> None:
        i = action.step
        assert action.idempotency_key == f"x:{SPEC.steps[i].name}:{action.direction.value}"
        # Two attempts of one step never overlap: the call sent is the step's only one in flight
        # (a call the decision itself settled, e.g. given up on at a restart, is no longer in flight).
        in_flight = [c for c in after.calls if c.step == i]
        assert [(c.direction, c.attempt) for c in in_flight] == [(action.direction, action.attempt)]
        previous = before.call_of(i, action.direction)
        if previous is not None and not resend:
            assert previous.attempt < action.attempt, "a new attempt overlaps the previous one"
        if action.direction is Direction.ACTION:
            assert after.status is ExecutionStatus.RUNNING
            return
        # A member's compensation never starts while its forward call is in flight.
        assert after.call_of(i, Direction.ACTION) is None
        assert not after.calls or all(c.direction is Direction.COMPENSATION for c in after.calls)
        assert after.steps[i].effect_possible, "compensating a step that never took effect"
        # No compensation on or after a pivot that succeeded, nor anywhere once it did.
        assert i < PIVOT and not self.pivot_ever_succeeded
        # The steps before a group are compensated only after the group's compensations succeeded.
        if i < GROUP_G[0]:
            for m in GROUP_G:
                member, member_spec = after.steps[m], SPEC.steps[m]
                if member.effect_possible and member_spec.compensation is not None:
                    assert member.status is StepStatus.COMPENSATED, f"step {i} compensated before member {m}"
        stage = _stage(i)
        if not self.compensation_stages or self.compensation_stages[-1] != stage:
            self.compensation_stages.append(stage)

    @rule(pick=st.integers(0, 7), outcome=OUTCOMES, elapsed=st.integers(0, 2_000))
    def answer_a_call(self, pick: int, outcome: object, elapsed: int) -> None:
        calls = self.state.calls
        if not calls:
            return
        call = calls[pick % len(calls)]
        self.now += elapsed
        self._apply(
            AttemptCompleted(step=call.step, direction=call.direction, attempt=call.attempt, outcome=outcome)  # type: ignore[arg-type]
        )

    @rule(elapsed=st.integers(0, 300))
    def every_call_succeeds(self, elapsed: int) -> None:
        self.now += elapsed
        for call in self.state.calls:
            self._apply(AttemptCompleted(step=call.step, direction=call.direction, attempt=call.attempt, outcome=OK))

    @rule(
        outcome=OUTCOMES,
        attempt=st.integers(1, 6),
        step_=st.integers(0, len(SPEC.steps) - 1),
        direction=st.sampled_from(list(Direction)),
    )
    def stray_outcome(self, outcome: object, attempt: int, step_: int, direction: Direction) -> None:
        call = self.state.call_of(step_, direction)
        if call is not None and call.attempt == attempt:
            return
        before = self.state
        self._apply(AttemptCompleted(step=step_, direction=direction, attempt=attempt, outcome=outcome))  # type: ignore[arg-type]
        assert self.state is before, "a late or unknown outcome changed the state"

    @rule(pick=st.integers(0, 7))
    def fire_a_wakeup(self, pick: int) -> None:
        wakeups = self.state.wakeups
        if not wakeups:
            return
        w = wakeups[pick % len(wakeups)]
        self.now = max(self.now, w.due_at_ms)
        self._apply(WakeupFired(step=w.step, direction=w.direction, attempt=w.attempt))

    @rule(attempt=st.integers(1, 6), step_=st.integers(0, len(SPEC.steps) - 1))
    def late_wakeup(self, attempt: int, step_: int) -> None:
        w = self.state.wakeup_of(step_, Direction.ACTION)
        if w is not None and w.attempt == attempt:
            return
        before = self.state
        self._apply(WakeupFired(step=step_, direction=Direction.ACTION, attempt=attempt))
        assert self.state is before

    @rule(dice=RARELY)
    def cancel(self, dice: int) -> None:
        if dice:
            return
        before = self.state
        self._apply(CancelRequested())
        if self.pivot_ever_succeeded:
            assert self.state is before, "a cancel past the pivot changed something"

    @rule(elapsed=st.integers(0, 20_000), dice=RARELY)
    def restart(self, elapsed: int, dice: int) -> None:
        if dice:
            return
        self.now += elapsed
        self._apply(Resumed())

    @precondition(lambda self: self.state.status is ExecutionStatus.FAILED)
    @rule()
    def operator_retry(self) -> None:
        going_forward = self.state.error is not None and self.state.error.direction is Direction.ACTION
        self._apply(RetryRequested())
        if going_forward:
            event("retried forward")
            assert self.state.status in (ExecutionStatus.RUNNING, ExecutionStatus.COMPLETED, ExecutionStatus.FAILED)

    @rule(step_=st.integers(0, len(SPEC.steps) - 1))
    def operator_resolve(self, step_: int) -> None:
        before = self.state
        problem = resolve_problem(SPEC, before, SPEC.steps[step_].name)
        self._apply(ResolveRequested(step=step_, note="done by hand", actor="ops"))
        if problem is not None:
            assert self.state is before and not self.decisions[-1].actions

    @invariant()
    def one_call_per_step(self) -> None:
        steps = [c.step for c in self.state.calls]
        assert len(steps) == len(set(steps)), "two attempts of one step overlap"
        for w in self.state.wakeups:
            assert self.state.call_of(w.step, w.direction) is None, "a step waits for a retry and calls at once"

    @invariant()
    def terminal_means_nothing_outstanding(self) -> None:
        if self.state.status.is_terminal:
            assert not self.state.calls and not self.state.wakeups

    @invariant()
    def after_the_pivot_only_forward(self) -> None:
        if self.pivot_ever_succeeded:
            assert self.state.status not in (ExecutionStatus.COMPENSATING, ExecutionStatus.COMPENSATED)
            if self.state.status is ExecutionStatus.FAILED:
                assert self.state.error is not None and self.state.error.direction is Direction.ACTION
                event("failed past the pivot")

    @invariant()
    def attempts_within_policy(self) -> None:
        for spec, s in zip(SPEC.steps, self.state.steps, strict=True):
            assert s.attempts - s.attempt_budget_base <= spec.retry.max_attempts
            assert s.compensation_attempts - s.compensation_budget_base <= spec.compensation_retry.max_attempts

    @invariant()
    def stages_compensated_newest_first(self) -> None:
        assert self.compensation_stages == sorted(self.compensation_stages, reverse=True)

    @invariant()
    def members_start_together(self) -> None:
        if self.state.status is ExecutionStatus.RUNNING and self.state.error is None:
            for stage in SPEC.stages():
                statuses = {self.state.steps[i].status for i in stage}
                if StepStatus.PENDING in statuses and len(stage) > 1:
                    assert statuses == {StepStatus.PENDING} or self.state.cancel_reason is not None

    @invariant()
    def terminal_states_mean_what_they_say(self) -> None:
        status = self.state.status
        if status is ExecutionStatus.COMPLETED:
            event("completed")
            assert all(s.status is StepStatus.SUCCEEDED for s in self.state.steps)
        if status is ExecutionStatus.COMPENSATED:
            event("compensated")
            for spec, s in zip(SPEC.steps, self.state.steps, strict=True):
                if s.effect_possible and spec.compensation is not None:
                    assert s.status is StepStatus.COMPENSATED
        if status is ExecutionStatus.FAILED:
            forward = self.state.error is not None and self.state.error.direction is Direction.ACTION
            compensation_failed = any(s.status is StepStatus.COMPENSATION_FAILED for s in self.state.steps)
            assert forward != compensation_failed


GroupSagaMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGroupSagaMachine = GroupSagaMachine.TestCase
