"""After an operator's retry, the execution's error counts the attempts as the step's
`compensation_attempts` does (every one), and names the round's own count, so `saga get` does not
say "failed after 2 attempts" beside a table counting 4."""

from __future__ import annotations

from coordinator.core import ExecutionStatus, RetryRequested
from tests.unit.machine_helpers import CONFLICT, OK, UNAVAILABLE, Run, saga, step
from tests.unit.test_machine import fire_wakeup


def test_the_error_counts_every_attempt_and_the_rounds_own() -> None:
    run = Run(saga(step("a", compensation_attempts=2), step("b")))
    run.answer(OK)
    run.answer(CONFLICT)
    run.answer(UNAVAILABLE)
    fire_wakeup(run)
    run.answer(UNAVAILABLE)
    assert run.state.error is not None
    assert run.state.error.message == "compensation of step 'a' failed after 2 attempt(s): HTTP 503"

    run.feed(RetryRequested())
    run.answer(UNAVAILABLE)
    fire_wakeup(run)
    run.answer(UNAVAILABLE)
    assert run.state.status is ExecutionStatus.FAILED
    assert run.state.steps[0].compensation_attempts == 4
    assert run.state.error is not None
    assert run.state.error.message == (
        "compensation of step 'a' failed after 4 attempt(s) in all, 2 since the operator's retry: HTTP 503"
    )
