"""The `outcome` each attempt's history entry records: the machine knows when the retries are spent."""

from __future__ import annotations

from coordinator.core import Direction, HistoryEventType, RetryRequested, WakeupFired
from tests.unit.machine_helpers import CONFLICT, INVALID, OK, TIMEOUT, UNAVAILABLE, Run, saga, step

A, C = Direction.ACTION, Direction.COMPENSATION


def fire_wakeup(run: Run) -> None:
    w = run.state.wakeup
    assert w is not None
    run.feed(WakeupFired(step=w.step, direction=w.direction, attempt=w.attempt), after_ms=w.due_at_ms - run.now)


def outcomes(run: Run, step_name: str, direction: Direction) -> list[str | None]:
    """The `outcome` of each finished attempt of one step in one direction, in order."""
    return [
        h.outcome
        for d in run.decisions
        for h in d.history
        if h.type in (HistoryEventType.ATTEMPT_SUCCEEDED, HistoryEventType.ATTEMPT_FAILED)
        and h.step == step_name
        and h.direction is direction
    ]


def test_the_last_retryable_forward_attempt_is_exhausted() -> None:
    run = Run(saga(step("a"), step("b", max_attempts=3)))
    run.answer(OK)
    for _ in range(2):
        run.answer(UNAVAILABLE)
        fire_wakeup(run)
    run.answer(UNAVAILABLE)
    assert outcomes(run, "b", A) == ["retryable", "retryable", "exhausted"]


def test_an_unknown_outcome_with_no_attempt_left_is_exhausted_too() -> None:
    run = Run(saga(step("a", max_attempts=2)))
    run.answer(TIMEOUT)
    fire_wakeup(run)
    run.answer(TIMEOUT)
    assert outcomes(run, "a", A) == ["unknown", "exhausted"]
    assert run.state.steps[0].effect_possible  # the label changed, not what the rollback knows


def test_a_fatal_or_invalid_answer_is_not_exhausted_whatever_the_budget() -> None:
    fatal = Run(saga(step("a", max_attempts=1)))
    fatal.answer(CONFLICT)
    assert outcomes(fatal, "a", A) == ["fatal"]
    invalid = Run(saga(step("a", max_attempts=1)))
    invalid.answer(INVALID)
    assert outcomes(invalid, "a", A) == ["invalid"]


def test_the_given_up_compensation_attempt_is_exhausted_and_a_fresh_budget_counts_again() -> None:
    run = Run(saga(step("a", compensation_attempts=2), step("b")))
    run.answer(OK)
    run.answer(CONFLICT)
    run.answer(UNAVAILABLE)
    fire_wakeup(run)
    run.answer(CONFLICT)  # a 4xx is retried on a compensation, so the last one is given up, not fatal
    assert outcomes(run, "a", C) == ["retryable", "exhausted"]
    run.feed(RetryRequested())  # the operator's retry: two more attempts
    run.answer(UNAVAILABLE)
    fire_wakeup(run)
    run.answer(UNAVAILABLE)
    assert outcomes(run, "a", C) == ["retryable", "exhausted", "retryable", "exhausted"]


def test_an_invalid_compensation_is_invalid_not_exhausted() -> None:
    run = Run(saga(step("a", compensation_attempts=5), step("b")))
    run.answer(OK)
    run.answer(CONFLICT)
    run.answer(INVALID)
    assert outcomes(run, "a", C) == ["invalid"]
