"""Parallel groups and the pivot (SPEC sections 7.1, 7.2) step by step through `decide()`."""

from __future__ import annotations

from dataclasses import replace

from coordinator.core import (
    AttemptCompleted,
    CallStep,
    CancelRequested,
    Direction,
    ExecutionStatus,
    Resumed,
    RetryRequested,
    StepStatus,
    WakeupFired,
)
from coordinator.core.pivot import cancel_problem_at
from tests.unit.machine_helpers import CONFLICT, OK, TIMEOUT, UNAVAILABLE, Run, saga, step

GROUP = saga(
    step("reserve"),
    replace(step("charge"), group="pay"),
    replace(step("book"), group="pay"),
    replace(step("ship", compensable=False, max_attempts=2), pivot=True),
    replace(step("confirm", compensable=False, max_attempts=2)),
)


def _calls(run: Run) -> list[CallStep]:
    return [a for a in run.last.actions if isinstance(a, CallStep)]


def _answer(run: Run, name: str, outcome: object, direction: Direction = Direction.ACTION) -> None:
    index = [s.name for s in GROUP.steps].index(name)
    call = run.state.call_of(index, direction)
    assert call is not None, f"{name} has no {direction.value} call in flight"
    run.feed(AttemptCompleted(step=index, direction=direction, attempt=call.attempt, outcome=outcome))  # type: ignore[arg-type]


def test_members_start_together_and_the_next_step_waits_for_both() -> None:
    run = Run(GROUP)
    _answer(run, "reserve", OK)
    assert [(c.step_name, c.idempotency_key) for c in _calls(run)] == [
        ("charge", "exec-1:charge:action"),
        ("book", "exec-1:book:action"),
    ]
    _answer(run, "book", OK)
    assert _calls(run) == [] and run.state.steps[3].status is StepStatus.PENDING
    _answer(run, "charge", OK)
    assert [c.step_name for c in _calls(run)] == ["ship"]


def test_fail_fast_waits_for_the_call_in_flight_then_compensates_the_group_before_the_steps_before_it() -> None:
    run = Run(GROUP)
    _answer(run, "reserve", OK)
    _answer(run, "charge", CONFLICT)
    assert run.state.status is ExecutionStatus.RUNNING and run.state.error is not None
    assert _calls(run) == []  # book's call is in flight: nothing is compensated yet
    _answer(run, "book", OK)
    assert run.state.status is ExecutionStatus.COMPENSATING
    assert [(c.step_name, c.direction) for c in _calls(run)] == [("book", Direction.COMPENSATION)]
    _answer(run, "book", OK, Direction.COMPENSATION)
    assert [c.step_name for c in _calls(run)] == ["reserve"]
    _answer(run, "reserve", OK, Direction.COMPENSATION)
    assert run.state.status is ExecutionStatus.COMPENSATED
    assert run.state.error is not None and run.state.error.step == "charge"


def test_a_member_waiting_for_a_retry_stops_when_its_sibling_fails() -> None:
    run = Run(GROUP)
    _answer(run, "reserve", OK)
    _answer(run, "charge", UNAVAILABLE)
    assert run.state.wakeup_of(1, Direction.ACTION) is not None
    _answer(run, "book", CONFLICT)
    assert run.state.steps[1].status is StepStatus.FAILED
    assert not run.state.wakeups and run.state.status is ExecutionStatus.COMPENSATING
    assert [c.step_name for c in _calls(run)] == ["reserve"]  # neither member took effect


def test_members_compensate_concurrently() -> None:
    run = Run(GROUP)
    _answer(run, "reserve", OK)
    _answer(run, "charge", OK)
    _answer(run, "book", OK)
    run.feed(CancelRequested())
    _answer(run, "ship", CONFLICT)
    assert {c.step_name for c in _calls(run)} == {"charge", "book"}
    assert len(run.state.calls) == 2


def _past_the_pivot() -> Run:
    run = Run(GROUP)
    for name in ("reserve", "charge", "book", "ship"):
        _answer(run, name, OK)
    return run


def test_past_the_pivot_a_failure_ends_failed_going_forward_and_retry_carries_it_on() -> None:
    run = _past_the_pivot()
    assert cancel_problem_at(GROUP, run.state) is not None
    before = run.state
    run.feed(CancelRequested())
    assert run.state is before
    _answer(run, "confirm", UNAVAILABLE)
    w = run.state.wakeup
    assert w is not None
    run.feed(WakeupFired(step=w.step, direction=w.direction, attempt=w.attempt), after_ms=w.due_at_ms - run.now)
    _answer(run, "confirm", UNAVAILABLE)
    assert run.state.status is ExecutionStatus.FAILED
    assert run.state.error is not None and run.state.error.direction is Direction.ACTION
    assert run.state.error.step == "confirm"
    run.feed(RetryRequested())
    assert [(c.step_name, c.attempt) for c in _calls(run)] == [("confirm", 3)]
    _answer(run, "confirm", OK)
    assert run.state.status is ExecutionStatus.COMPLETED


def test_a_pivot_whose_outcome_stays_unknown_ends_failed_and_a_cancel_rolls_back_the_steps_before_it() -> None:
    run = Run(GROUP)
    for name in ("reserve", "charge", "book"):
        _answer(run, name, OK)
    _answer(run, "ship", TIMEOUT)
    w = run.state.wakeup
    assert w is not None
    run.feed(WakeupFired(step=w.step, direction=w.direction, attempt=w.attempt), after_ms=w.due_at_ms - run.now)
    _answer(run, "ship", TIMEOUT)
    assert run.state.status is ExecutionStatus.FAILED
    assert run.state.error is not None and "unknown" in run.state.error.message
    assert cancel_problem_at(GROUP, run.state) is None
    run.feed(CancelRequested())
    assert run.state.status is ExecutionStatus.COMPENSATING
    assert {c.step_name for c in _calls(run)} == {"charge", "book"}


def test_a_group_that_comes_first_starts_all_its_members_at_once() -> None:
    run = Run(saga(*(replace(step(name), group="first") for name in ("x", "y", "z"))))
    assert [c.step_name for c in _calls(run)] == ["x", "y", "z"]


def test_a_cancel_that_waited_for_the_pivot_which_then_succeeded_is_withdrawn_in_the_history() -> None:
    run = Run(GROUP)
    for name in ("reserve", "charge", "book"):
        _answer(run, name, OK)
    run.feed(CancelRequested(reason="customer asked"))  # the pivot's call is in flight
    assert run.state.cancel_reason == "customer asked"
    _answer(run, "ship", OK)
    assert run.state.cancel_reason is None and run.state.status is ExecutionStatus.RUNNING
    assert [c.step_name for c in _calls(run)] == ["confirm"]  # forward, never back
    withdrawn = [e for e in run.last.history if e.type == "cancel_withdrawn"]
    assert len(withdrawn) == 1 and withdrawn[0].step == "ship" and "pivot" in (withdrawn[0].error or "")


def test_resuming_resends_only_the_calls_this_process_is_not_still_sending() -> None:
    """A re-drive after one member's outcome could not be committed: that member's call is sent
    again, its sibling's (still on its way in this process) is not, or two would run at once."""
    run = Run(GROUP)
    _answer(run, "reserve", OK)
    charge, book = run.state.call_of(1, Direction.ACTION), run.state.call_of(2, Direction.ACTION)
    assert charge is not None and book is not None
    run.feed(Resumed(sending=frozenset({(2, Direction.ACTION, book.attempt)})))
    assert [(c.step_name, c.attempt) for c in _calls(run)] == [("charge", charge.attempt)]
    run.feed(Resumed())
    assert [c.step_name for c in _calls(run)] == ["charge", "book"]  # a process that sends neither (after a restart)
