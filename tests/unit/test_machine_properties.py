"""Property test: random outcomes, duplicates, late timers, cancels, restarts and resolves against `decide()`."""

from __future__ import annotations

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
from tests.unit.machine_helpers import CONFLICT, INVALID, OK, TIMEOUT, UNAVAILABLE, saga, step

SPEC = saga(
    step("a", max_attempts=3, compensation_attempts=3),
    step("b", compensable=False, max_attempts=2),
    step("c", max_attempts=4, compensation_attempts=2, deadline_ms=2_000),
    step("d", max_attempts=2),
    deadline_ms=20_000,
)
OUTCOMES = st.sampled_from([OK, OK, OK, CONFLICT, UNAVAILABLE, TIMEOUT, INVALID])


class SagaMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000
        first = begin_execution(SPEC, "x", now_ms=self.now)
        self.state = first.state
        self.decisions: list[Decision] = [first]
        self.compensation_order: list[int] = []
        self.terminal_seen = False

    def _apply(self, event: Event) -> None:
        before = self.state
        decision = decide(SPEC, self.state, event, now_ms=self.now)
        if before.status.is_terminal and not isinstance(event, RetryRequested | ResolveRequested):
            assert decision.state is before and not decision.actions, "terminal state must absorb"
        for action in decision.actions:
            if isinstance(action, ArmWakeup) and not isinstance(event, Resumed):
                # A restart re-arms the stored due time, which may have passed; new ones may not.
                assert action.due_at_ms >= self.now, "wake-up scheduled in the past"
            if isinstance(action, CallStep):
                assert action.idempotency_key == f"x:{SPEC.steps[action.step].name}:{action.direction.value}"
                if action.direction is Direction.COMPENSATION:
                    assert (
                        before.steps[action.step].effect_possible or decision.state.steps[action.step].effect_possible
                    ), "compensating a step that never took effect"
                    if not self.compensation_order or self.compensation_order[-1] != action.step:
                        self.compensation_order.append(action.step)
        if isinstance(event, RetryRequested) and before.status is ExecutionStatus.FAILED:
            self.compensation_order.clear()
        self.state = decision.state
        self.decisions.append(decision)

    @rule(outcome=OUTCOMES, elapsed=st.integers(0, 3_000))
    def answer_in_flight(self, outcome: object, elapsed: int) -> None:
        call = self.state.in_flight
        if call is None:
            return
        self.now += elapsed
        self._apply(
            AttemptCompleted(step=call.step, direction=call.direction, attempt=call.attempt, outcome=outcome)  # type: ignore[arg-type]
        )

    @rule(outcome=OUTCOMES, attempt=st.integers(1, 5), step_=st.integers(0, 3))
    def stray_outcome(self, outcome: object, attempt: int, step_: int) -> None:
        call = self.state.in_flight
        if call is not None and (call.step, call.attempt) == (step_, attempt):
            return
        before = self.state
        self._apply(
            AttemptCompleted(step=step_, direction=Direction.ACTION, attempt=attempt, outcome=outcome)  # type: ignore[arg-type]
        )
        assert self.state is before, "a late or unknown outcome changed the state"

    @rule()
    def fire_wakeup(self) -> None:
        w = self.state.wakeup
        if w is None:
            return
        self.now = max(self.now, w.due_at_ms)
        self._apply(WakeupFired(step=w.step, direction=w.direction, attempt=w.attempt))

    @rule(attempt=st.integers(1, 5))
    def late_wakeup(self, attempt: int) -> None:
        w = self.state.wakeup
        if w is not None and w.attempt == attempt:
            return
        before = self.state
        self._apply(WakeupFired(step=0, direction=Direction.ACTION, attempt=attempt))
        assert self.state is before

    @rule()
    def cancel(self) -> None:
        self._apply(CancelRequested())

    @rule(elapsed=st.integers(0, 30_000))
    def restart(self, elapsed: int) -> None:
        self.now += elapsed
        self._apply(Resumed())

    @precondition(lambda self: self.state.status is ExecutionStatus.FAILED)
    @rule()
    def operator_retry(self) -> None:
        self._apply(RetryRequested())

    @precondition(lambda self: self.state.status is ExecutionStatus.FAILED)
    @rule()
    def operator_resolves_the_failed_compensation(self) -> None:
        [failed] = [i for i, s in enumerate(self.state.steps) if s.status is StepStatus.COMPENSATION_FAILED]
        self.operator_resolve(failed)

    @rule(step_=st.integers(0, 3))
    def operator_resolve(self, step_: int) -> None:
        # Drawn from every status and step, so most resolves do not apply: those must change nothing.
        before = self.state
        problem = resolve_problem(SPEC, before, SPEC.steps[step_].name)
        self._apply(ResolveRequested(step=step_, note="done by hand", actor="ops"))
        if problem is not None:
            assert self.state is before and not self.decisions[-1].actions, "a resolve that does not apply acted"
            return
        assert before.status is ExecutionStatus.FAILED
        assert self.state.steps[step_].status is StepStatus.COMPENSATED
        assert self.state.status in (ExecutionStatus.COMPENSATING, ExecutionStatus.COMPENSATED)
        event("resolve applied")
        types = [h.type for h in self.decisions[-1].history]
        assert types[0] == "compensation_resolved"

    @invariant()
    def resolved_steps_stay_compensated(self) -> None:
        for s in self.state.steps:
            if s.resolution is not None:
                assert s.status is StepStatus.COMPENSATED

    @invariant()
    def one_pending_thing_at_most(self) -> None:
        assert not (self.state.in_flight is not None and self.state.wakeup is not None)
        if self.state.status.is_terminal:
            assert self.state.in_flight is None and self.state.wakeup is None

    @invariant()
    def attempts_within_policy(self) -> None:
        for spec, s in zip(SPEC.steps, self.state.steps, strict=True):
            assert s.attempts <= spec.retry.max_attempts
            assert s.compensation_attempts - s.compensation_budget_base <= spec.compensation_retry.max_attempts

    @invariant()
    def compensation_runs_newest_first(self) -> None:
        assert self.compensation_order == sorted(self.compensation_order, reverse=True)

    @invariant()
    def terminal_states_mean_what_they_say(self) -> None:
        status = self.state.status
        if status is ExecutionStatus.COMPLETED:
            assert all(s.status is StepStatus.SUCCEEDED for s in self.state.steps)
        if status is ExecutionStatus.COMPENSATED:
            for spec, s in zip(SPEC.steps, self.state.steps, strict=True):
                if s.effect_possible and spec.compensation is not None:
                    assert s.status is StepStatus.COMPENSATED
                if not s.effect_possible:
                    assert s.status is not StepStatus.COMPENSATED
        if status is ExecutionStatus.FAILED:
            assert any(s.status is StepStatus.COMPENSATION_FAILED for s in self.state.steps)


SagaMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSagaMachine = SagaMachine.TestCase
