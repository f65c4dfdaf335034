"""Property test: asynchronous steps (SPEC 7.3) under random 202s, callbacks, heartbeats, late and
stray callbacks, timeouts, cancels and restarts. The invariants of `test_machine_properties` hold,
and the callback verdict agrees with what `decide()` does."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from coordinator.core import (
    ArmWakeup,
    AsyncSpec,
    AttemptCompleted,
    CallbackOutcome,
    CallbackReceived,
    CallbackVerdict,
    CallStep,
    CancelRequested,
    Direction,
    ExecutionStatus,
    HeartbeatReceived,
    OutcomeKind,
    ResponseSnapshot,
    Resumed,
    StepOutcome,
    StepSpec,
    StepStatus,
    WakeupFired,
    begin_execution,
    callback_verdict,
    decide,
)
from coordinator.core.actions import Decision
from coordinator.core.events import Event
from tests.unit.machine_helpers import CONFLICT, OK, TIMEOUT, UNAVAILABLE, saga, step


def asynchronous(spec: StepSpec, *, heartbeat_ms: int | None = None, compensation: bool = False) -> StepSpec:
    wait = AsyncSpec(timeout_ms=5_000, heartbeat_ms=heartbeat_ms)
    spec = replace(spec, action=replace(spec.action, async_=wait))
    if compensation and spec.compensation is not None:
        spec = replace(spec, compensation=replace(spec.compensation, async_=wait))
    return spec


SPEC = saga(
    step("a", max_attempts=2, compensation_attempts=3),
    asynchronous(step("b", max_attempts=3, compensation_attempts=3), heartbeat_ms=1_000, compensation=True),
    asynchronous(step("c", compensable=False, max_attempts=2)),
    step("d", max_attempts=2),
    deadline_ms=60_000,
)
ACCEPTED = StepOutcome(kind=OutcomeKind.SUCCESS, status_code=202, response=ResponseSnapshot(status=202))
OUTCOMES = st.sampled_from([ACCEPTED, ACCEPTED, ACCEPTED, OK, CONFLICT, UNAVAILABLE, TIMEOUT])
REPORTS = st.sampled_from([CallbackOutcome.SUCCEEDED, CallbackOutcome.SUCCEEDED, CallbackOutcome.FAILED])


class AsyncSagaMachine(RuleBasedStateMachine):
    spec = SPEC

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000
        first = begin_execution(self.spec, "x", now_ms=self.now)
        self.state = first.state
        self.decisions: list[Decision] = [first]
        self.compensation_order: list[int] = []

    def _apply(self, event_: Event) -> Decision:
        before = self.state
        decision = decide(self.spec, self.state, event_, now_ms=self.now)
        if before.status.is_terminal:
            assert decision.state is before and not decision.actions, "terminal state must absorb"
        for action in decision.actions:
            if isinstance(action, ArmWakeup) and not isinstance(event_, Resumed):
                assert action.due_at_ms >= self.now, "wake-up scheduled in the past"
            if isinstance(action, CallStep) and action.direction is Direction.COMPENSATION:
                took = before.steps[action.step].effect_possible or decision.state.steps[action.step].effect_possible
                assert took, "compensating a step that never took effect"
                if not self.compensation_order or self.compensation_order[-1] != action.step:
                    self.compensation_order.append(action.step)
        self.state = decision.state
        self.decisions.append(decision)
        return decision

    @rule(outcome=OUTCOMES, elapsed=st.integers(0, 2_000))
    def answer_in_flight(self, outcome: StepOutcome, elapsed: int) -> None:
        calls = self.state.calls
        if not calls:
            return
        call = calls[0]
        self.now += elapsed
        self._apply(AttemptCompleted(step=call.step, direction=call.direction, attempt=call.attempt, outcome=outcome))

    @rule(report=REPORTS, elapsed=st.integers(0, 6_000), early=st.booleans())
    def participant_calls_back(self, report: CallbackOutcome, elapsed: int, early: bool) -> None:
        # A wait, or (early) a call whose 202 has not been processed yet: the callback may win the race.
        targets = [(w.step, w.direction, w.attempt) for w in self.state.waits]
        if early:
            targets += [(c.step, c.direction, c.attempt) for c in self.state.calls]
        if not targets:
            return
        index, direction, attempt = targets[0]
        self.now += elapsed
        verdict = callback_verdict(self.state, index, direction, attempt, report)
        assert verdict is CallbackVerdict.ACCEPT
        decision = self._apply(
            CallbackReceived(
                step=index, direction=direction, attempt=attempt, outcome=report, body={"paid": True}, error="no"
            )
        )
        assert decision.history[0].type == "callback_received"
        event(f"callback {report.value} {direction.value}")
        after = callback_verdict(self.state, index, direction, attempt, report)
        assert after in (CallbackVerdict.DUPLICATE, CallbackVerdict.SUPERSEDED), after
        other = CallbackOutcome.FAILED if report is CallbackOutcome.SUCCEEDED else CallbackOutcome.SUCCEEDED
        assert callback_verdict(self.state, index, direction, attempt, other) in (
            CallbackVerdict.CONFLICT,
            CallbackVerdict.SUPERSEDED,
        )
        if direction is Direction.ACTION and report is CallbackOutcome.SUCCEEDED:
            assert self.state.steps[index].response is not None
            assert self.state.steps[index].response.body == {"paid": True}

    @rule(report=REPORTS, step_=st.integers(0, 3), attempt=st.integers(1, 4), heartbeat=st.booleans())
    def stray_callback(self, report: CallbackOutcome, step_: int, attempt: int, heartbeat: bool) -> None:
        direction = Direction.ACTION
        verdict = callback_verdict(self.state, step_, direction, attempt, None if heartbeat else report)
        if verdict is CallbackVerdict.ACCEPT:
            return
        before = self.state
        if heartbeat:
            self._apply(HeartbeatReceived(step=step_, direction=direction, attempt=attempt))
        else:
            self._apply(CallbackReceived(step=step_, direction=direction, attempt=attempt, outcome=report))
        assert self.state is before, f"a {verdict} callback changed the state"

    @rule(elapsed=st.integers(0, 900))
    def heartbeat(self, elapsed: int) -> None:
        if not self.state.waits:
            return
        wait = self.state.waits[0]
        self.now = min(self.now + elapsed, wait.due_at_ms)
        self._apply(HeartbeatReceived(step=wait.step, direction=wait.direction, attempt=wait.attempt))
        renewed = self.state.wait_of(wait.step, wait.direction)
        assert renewed is not None and renewed.due_at_ms >= wait.due_at_ms
        assert renewed.due_at_ms <= renewed.timeout_at_ms

    @rule(early=st.booleans())
    def fire_wakeup(self, early: bool) -> None:
        timers = [*self.state.wakeups, *self.state.waits]
        if not timers:
            return
        w = timers[0]
        if not early:
            self.now = max(self.now, w.due_at_ms)
        before = self.state
        self._apply(WakeupFired(step=w.step, direction=w.direction, attempt=w.attempt))
        if early and self.now < w.due_at_ms and w in self.state.waits:
            assert self.state is before  # a wait's wake-up that came early only re-arms

    @rule()
    def cancel(self) -> None:
        self._apply(CancelRequested())

    @rule(elapsed=st.integers(0, 10_000))
    def restart(self, elapsed: int) -> None:
        self.now += elapsed
        self._apply(Resumed())

    @invariant()
    def waiting_steps_and_waits_agree(self) -> None:
        waiting = {i for i, s in enumerate(self.state.steps) if s.status is StepStatus.WAITING}
        assert waiting == {w.step for w in self.state.waits}
        for w in self.state.waits:
            assert self.state.call_of(w.step, w.direction) is None
            assert self.state.wakeup_of(w.step, w.direction) is None
            assert w.since_ms <= w.due_at_ms <= w.timeout_at_ms

    @invariant()
    def no_forward_wait_once_halted(self) -> None:
        """A cancel or a group member's failure ends every forward wait (this spec has no pivot)."""
        state = self.state
        halted = state.cancel_reason is not None or (state.error is not None and state.error.direction is None)
        if halted:
            assert not [w for w in state.waits if w.direction is Direction.ACTION], state.waits

    @invariant()
    def nothing_pending_once_terminal(self) -> None:
        if self.state.status.is_terminal:
            assert not self.state.busy

    @invariant()
    def attempts_within_policy(self) -> None:
        for spec, s in zip(self.spec.steps, self.state.steps, strict=True):
            assert s.attempts <= spec.retry.max_attempts
            assert s.compensation_attempts - s.compensation_budget_base <= spec.compensation_retry.max_attempts

    @invariant()
    def compensation_runs_newest_first(self) -> None:
        stages = [self._stage(step) for step in self.compensation_order]
        assert stages == sorted(stages, reverse=True), self.compensation_order

    def _stage(self, index: int) -> int:
        """The position of step `index`'s stage (a group's members share one)."""
        return next(n for n, stage in enumerate(self.spec.stages()) if index in stage)

    @invariant()
    def terminal_states_mean_what_they_say(self) -> None:
        status = self.state.status
        if status is ExecutionStatus.COMPLETED:
            assert all(s.status is StepStatus.SUCCEEDED for s in self.state.steps)
        if status is ExecutionStatus.COMPENSATED:
            for spec, s in zip(self.spec.steps, self.state.steps, strict=True):
                if s.effect_possible and spec.compensation is not None:
                    assert s.status is StepStatus.COMPENSATED
                if not s.effect_possible:
                    assert s.status is not StepStatus.COMPENSATED


GROUP_SPEC = saga(
    step("a", max_attempts=2, compensation_attempts=3),
    replace(
        asynchronous(step("b", max_attempts=2, compensation_attempts=3), heartbeat_ms=1_000, compensation=True),
        group="g",
    ),
    replace(asynchronous(step("c", max_attempts=2, compensation_attempts=3)), group="g"),
    replace(step("e", max_attempts=2, compensation_attempts=2), group="g"),
    step("d", compensable=False, max_attempts=2),
    deadline_ms=60_000,
)


class AsyncGroupMachine(AsyncSagaMachine):
    """The same rules and invariants with async members in a parallel group (SPEC 7.1 with 7.3):
    fail fast ends a sibling's wait, and the rollback compensates it."""

    spec = GROUP_SPEC


AsyncSagaMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestAsyncSagaMachine = AsyncSagaMachine.TestCase
AsyncGroupMachine.TestCase.settings = AsyncSagaMachine.TestCase.settings
TestAsyncGroupMachine = AsyncGroupMachine.TestCase
