"""`decide()` with asynchronous steps (SPEC 7.3): a 202 waits, and the wait ends in the outcome paths."""

from __future__ import annotations

from dataclasses import replace

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
    OutcomeKind,
    ResponseSnapshot,
    Resumed,
    StepOutcome,
    StepSpec,
    StepStatus,
    WakeupFired,
    callback_verdict,
)
from coordinator.core.actions import DisarmWakeup
from tests.unit.machine_helpers import CONFLICT, OK, Run, saga, step

ACCEPTED = StepOutcome(kind=OutcomeKind.SUCCESS, status_code=202, response=ResponseSnapshot(status=202, body={"q": 1}))


def asynchronous(spec: StepSpec, timeout_ms: int = 60_000, heartbeat_ms: int | None = None) -> StepSpec:
    wait = AsyncSpec(timeout_ms=timeout_ms, heartbeat_ms=heartbeat_ms)
    return replace(spec, action=replace(spec.action, async_=wait))


def arms(run: Run) -> list[int]:
    return [a.due_at_ms for a in run.last.actions if isinstance(a, ArmWakeup)]


def test_a_202_waits_with_its_deadline_armed_and_recorded() -> None:
    run = Run(saga(asynchronous(step("charge"), heartbeat_ms=10_000), step("ship")))
    run.answer(ACCEPTED)
    state = run.state
    assert state.steps[0].status is StepStatus.WAITING and not state.calls
    [wait] = state.waits
    assert (wait.attempt, wait.timeout_at_ms - wait.since_ms, wait.due_at_ms - wait.since_ms) == (1, 60_000, 10_000)
    assert arms(run) == [wait.due_at_ms]
    assert run.history_types()[-1] == "attempt_waiting"
    assert not state.steps[0].effect_possible  # only the wait's end says whether it took effect


def test_a_202_from_a_step_that_is_not_async_completes_it_as_before() -> None:
    run = Run(saga(step("charge"), step("ship")))
    run.answer(ACCEPTED)
    assert run.state.steps[0].status is StepStatus.SUCCEEDED and not run.state.waits


def test_the_saga_deadline_bounds_the_wait() -> None:
    run = Run(saga(asynchronous(step("charge")), deadline_ms=5_000))
    run.answer(ACCEPTED)
    assert run.state.waits[0].timeout_at_ms == run.state.deadline_at_ms


def test_a_callback_that_wins_the_race_with_the_202_is_taken_and_the_202_is_then_late() -> None:
    run = Run(saga(asynchronous(step("charge")), step("ship")))
    call = run.pending_call()
    run.feed(CallbackReceived(step=0, direction=Direction.ACTION, attempt=1, outcome=CallbackOutcome.SUCCEEDED, body=7))
    assert run.state.steps[0].status is StepStatus.SUCCEEDED
    assert run.state.steps[0].response is not None and run.state.steps[0].response.body == 7
    before = run.state
    run.feed(AttemptCompleted(step=call.step, direction=call.direction, attempt=call.attempt, outcome=ACCEPTED))
    assert run.state is before


def test_cancel_while_waiting_stops_the_wait_and_compensates_its_unknown_outcome() -> None:
    run = Run(saga(step("reserve"), asynchronous(step("charge"), timeout_ms=86_400_000)))
    run.answer(OK)
    run.answer(ACCEPTED)
    run.feed(CancelRequested())
    assert not run.state.waits and run.state.status is ExecutionStatus.COMPENSATING
    assert run.state.steps[1].effect_possible  # the participant may have done it: undone
    assert run.pending_call().step_name == "charge" and run.pending_call().direction is Direction.COMPENSATION
    late = CallbackReceived(step=1, direction=Direction.ACTION, attempt=1, outcome=CallbackOutcome.SUCCEEDED)
    before = run.state
    run.feed(late)
    assert run.state is before  # the wait is over: a late callback changes nothing


def test_cancel_while_the_pivot_waits_lets_its_wait_end() -> None:
    pivot = replace(asynchronous(step("ship", compensable=False), timeout_ms=1_000), pivot=True)
    run = Run(saga(step("reserve"), pivot))
    run.answer(OK)
    run.answer(ACCEPTED)
    run.feed(CancelRequested())
    assert run.state.waits and run.state.status is ExecutionStatus.RUNNING


def test_an_early_wake_up_only_re_arms_and_a_restart_re_arms_the_wait() -> None:
    run = Run(saga(asynchronous(step("charge"), timeout_ms=1_000)))
    run.answer(ACCEPTED)
    due = run.state.waits[0].due_at_ms
    before = run.state
    run.feed(WakeupFired(step=0, direction=Direction.ACTION, attempt=1), after_ms=10)
    assert run.state is before and arms(run) == [due]
    run.feed(Resumed(), after_ms=10)
    assert run.state is before and arms(run) == [due]


def _group_with_async_member() -> Run:
    """reserve, then a group of `charge` (async) and `book`."""
    return Run(
        saga(
            step("reserve"),
            replace(asynchronous(step("charge")), group="pay"),
            replace(step("book", max_attempts=1), group="pay"),
        )
    )


def _feed(run: Run, index: int, outcome: StepOutcome) -> None:
    call = run.state.call_of(index, Direction.ACTION)
    assert call is not None
    run.feed(AttemptCompleted(step=index, direction=Direction.ACTION, attempt=call.attempt, outcome=outcome))


def test_fail_fast_ends_a_sibling_s_wait_as_a_cancel_does() -> None:
    """SPEC 7.1 fail fast with 7.3: a member waiting for its callback stops when a sibling fails for
    good; its outcome is unknown, so the rollback compensates it, and its callback finds no wait."""
    run = _group_with_async_member()
    run.answer(OK)  # reserve
    _feed(run, 1, ACCEPTED)  # charge waits
    assert run.state.steps[1].status is StepStatus.WAITING
    _feed(run, 2, CONFLICT)  # book fails for good
    state = run.state
    assert not state.waits and state.status is ExecutionStatus.COMPENSATING
    charge = state.steps[1]
    assert charge.effect_possible and charge.status is StepStatus.COMPENSATING
    assert any(isinstance(a, DisarmWakeup) and a.step == 1 for a in run.last.actions)
    assert [(c.step_name, c.direction) for c in run.last.actions if isinstance(c, CallStep)] == [
        ("charge", Direction.COMPENSATION)
    ]
    failed = [h for h in run.last.history if h.type == "step_failed" and h.step == "charge"]
    assert failed and "while waiting for the callback of attempt 1" in (failed[0].error or "")
    assert callback_verdict(state, 1, Direction.ACTION, 1, CallbackOutcome.SUCCEEDED) is CallbackVerdict.EXPIRED
    late = run.feed(CallbackReceived(step=1, direction=Direction.ACTION, attempt=1, outcome=CallbackOutcome.SUCCEEDED))
    assert late.state is state and not late.history


def test_a_202_that_answers_after_a_sibling_failed_stops_waiting_at_once() -> None:
    run = _group_with_async_member()
    run.answer(OK)
    _feed(run, 2, CONFLICT)  # book fails while charge's call is in flight
    assert run.state.status is ExecutionStatus.RUNNING
    _feed(run, 1, ACCEPTED)
    state = run.state
    assert not state.waits and state.status is ExecutionStatus.COMPENSATING
    assert state.steps[1].effect_possible
    assert [c.step_name for c in run.last.actions if isinstance(c, CallStep)] == ["charge"]


def test_a_202_that_answers_after_a_cancel_stops_waiting_at_once() -> None:
    run = Run(saga(step("reserve"), asynchronous(step("charge")), step("ship")))
    run.answer(OK)
    run.feed(CancelRequested())  # charge's call is in flight: it finishes first
    _feed(run, 1, ACCEPTED)
    state = run.state
    assert not state.waits and state.status is ExecutionStatus.COMPENSATING
    assert [(c.step_name, c.direction) for c in run.last.actions if isinstance(c, CallStep)] == [
        ("charge", Direction.COMPENSATION)
    ]
