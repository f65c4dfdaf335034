"""The pure state machine, scenario by scenario."""

from __future__ import annotations

from dataclasses import replace

from coordinator.core import (
    ArmWakeup,
    AttemptCompleted,
    CancelRequested,
    Direction,
    DisarmWakeup,
    ExecutionError,
    ExecutionStatus,
    OutcomeKind,
    RequestSnapshot,
    ResolveRequested,
    ResponseSnapshot,
    Resumed,
    RetryRequested,
    StepOutcome,
    StepStatus,
    WakeupFired,
    resolve_problem,
)
from coordinator.core.machine import RESEND_MARGIN_MS
from tests.unit.machine_helpers import CONFLICT, INVALID, OK, TIMEOUT, UNAVAILABLE, Run, saga, step

A, C = Direction.ACTION, Direction.COMPENSATION


def fire_wakeup(run: Run) -> None:
    w = run.state.wakeup
    assert w is not None
    run.feed(WakeupFired(step=w.step, direction=w.direction, attempt=w.attempt), after_ms=w.due_at_ms - run.now)


def test_happy_path_runs_steps_in_order_and_completes() -> None:
    run = Run(saga(step("reserve"), step("charge"), step("ship")))
    for _ in range(3):
        run.answer(OK)
    assert run.state.status is ExecutionStatus.COMPLETED
    assert run.calls() == [("reserve", A, 1), ("charge", A, 1), ("ship", A, 1)]
    assert all(s.status is StepStatus.SUCCEEDED for s in run.state.steps)
    assert run.history_types()[0] == "execution_started"
    assert run.history_types()[-1] == "execution_completed"
    assert run.state.in_flight is None and run.state.wakeup is None


def test_idempotency_key_is_per_step_and_direction() -> None:
    run = Run(saga(step("reserve"), step("charge")))
    assert run.pending_call().idempotency_key == "exec-1:reserve:action"
    run.answer(OK)
    run.answer(CONFLICT)
    assert run.pending_call().idempotency_key == "exec-1:reserve:compensation"


def test_fatal_answer_compensates_earlier_steps_newest_first_and_skips_the_rest() -> None:
    run = Run(saga(step("a"), step("b"), step("c"), step("d")))
    run.answer(OK)
    run.answer(OK)
    run.answer(CONFLICT)  # c fails for good
    assert run.state.status is ExecutionStatus.COMPENSATING
    run.answer(OK)  # compensate b
    run.answer(OK)  # compensate a
    assert run.state.status is ExecutionStatus.COMPENSATED
    assert [c for c in run.calls() if c[1] is C] == [("b", C, 1), ("a", C, 1)]
    statuses = [s.status for s in run.state.steps]
    assert statuses == [StepStatus.COMPENSATED, StepStatus.COMPENSATED, StepStatus.FAILED, StepStatus.SKIPPED]
    assert run.state.error is not None and run.state.error.step == "c"
    assert "HTTP 409" in run.state.error.message


def test_retryable_answers_are_retried_with_backoff_then_rolled_back() -> None:
    run = Run(saga(step("a"), step("b", max_attempts=3)))
    run.answer(OK)
    delays = []
    for _ in range(2):
        run.answer(UNAVAILABLE)
        arm = [x for x in run.last.actions if isinstance(x, ArmWakeup)]
        assert len(arm) == 1 and arm[0].due_at_ms > run.now
        delays.append(arm[0].due_at_ms - run.now)
        fire_wakeup(run)
    assert delays == [100, 200]  # initial 100 ms, x2, no jitter
    run.answer(UNAVAILABLE)  # third and last attempt
    assert run.state.steps[1].attempts == 3
    assert run.state.steps[1].status is StepStatus.FAILED
    assert "gave up after 3 attempts" in (run.state.steps[1].last_error or "")
    # b's 503s did not take effect: only a is compensated
    run.answer(OK)
    assert run.state.status is ExecutionStatus.COMPENSATED
    assert run.state.steps[1].status is StepStatus.FAILED


def test_unknown_outcome_is_compensated_even_though_the_step_failed() -> None:
    run = Run(saga(step("a"), step("b", max_attempts=2)))
    run.answer(OK)
    run.answer(TIMEOUT)
    fire_wakeup(run)
    run.answer(UNAVAILABLE)
    assert run.state.steps[1].effect_possible
    run.answer(OK)  # compensate b first (may have taken effect)
    run.answer(OK)  # then a
    assert [c for c in run.calls() if c[1] is C] == [("b", C, 1), ("a", C, 1)]
    assert run.state.status is ExecutionStatus.COMPENSATED


def test_step_without_compensation_is_left_alone_on_rollback() -> None:
    run = Run(saga(step("a"), step("lookup", compensable=False), step("c")))
    run.answer(OK)
    run.answer(OK)
    run.answer(CONFLICT)
    run.answer(OK)
    assert [c for c in run.calls() if c[1] is C] == [("a", C, 1)]
    assert run.state.steps[1].status is StepStatus.SUCCEEDED
    assert run.state.status is ExecutionStatus.COMPENSATED


def test_compensation_failing_past_its_budget_fails_the_execution_and_operator_retry_resumes() -> None:
    run = Run(saga(step("a", compensation_attempts=2), step("b")))
    run.answer(OK)
    run.answer(CONFLICT)
    run.answer(UNAVAILABLE)
    fire_wakeup(run)
    run.answer(CONFLICT)  # a 4xx on a compensation is retried too, until the budget ends
    assert run.state.status is ExecutionStatus.FAILED
    assert run.state.steps[0].status is StepStatus.COMPENSATION_FAILED
    assert run.state.error is not None and run.state.error.step == "a"
    # terminal: everything but an operator retry is absorbed
    before = run.state
    run.feed(CancelRequested())
    assert run.state is before and not run.last.actions
    run.feed(RetryRequested())
    assert run.state.status is ExecutionStatus.COMPENSATING
    assert run.pending_call().attempt == 3 and run.pending_call().direction is C
    run.answer(OK)
    assert run.state.status is ExecutionStatus.COMPENSATED


def test_invalid_compensation_fails_at_once() -> None:
    run = Run(saga(step("a", compensation_attempts=5), step("b")))
    run.answer(OK)
    run.answer(CONFLICT)
    run.answer(INVALID)
    assert run.state.status is ExecutionStatus.FAILED
    assert run.state.steps[0].compensation_attempts == 1


def test_retry_requested_on_non_failed_execution_changes_nothing() -> None:
    run = Run(saga(step("a")))
    before = run.state
    run.feed(RetryRequested())
    assert run.state is before


def test_cancel_while_a_call_is_in_flight_waits_for_it_then_rolls_back_including_it() -> None:
    run = Run(saga(step("a"), step("b"), step("c")))
    run.answer(OK)
    run.feed(CancelRequested())
    assert run.state.cancel_reason is not None and not run.last.actions  # b is still in flight
    c = run.calls()[-1]
    run.feed(AttemptCompleted(step=1, direction=A, attempt=c[2], outcome=OK))
    assert run.state.status is ExecutionStatus.COMPENSATING
    run.answer(OK)
    run.answer(OK)
    assert run.state.status is ExecutionStatus.COMPENSATED
    assert [x for x in run.calls() if x[1] is C] == [("b", C, 1), ("a", C, 1)]
    assert run.state.steps[2].status is StepStatus.SKIPPED


def test_cancel_during_a_retry_wait_disarms_it_and_rolls_back() -> None:
    run = Run(saga(step("a"), step("b")))
    run.answer(OK)
    run.answer(UNAVAILABLE)
    assert run.state.wakeup is not None
    stale = run.state.wakeup
    run.feed(CancelRequested())
    assert any(isinstance(x, DisarmWakeup) for x in run.last.actions)
    assert run.state.wakeup is None and run.state.status is ExecutionStatus.COMPENSATING
    # the superseded wake-up firing late changes nothing
    before = run.state
    run.feed(WakeupFired(step=stale.step, direction=stale.direction, attempt=stale.attempt))
    assert run.state is before


def test_cancel_while_compensating_is_absorbed() -> None:
    run = Run(saga(step("a"), step("b")))
    run.answer(OK)
    run.answer(CONFLICT)
    before = run.state
    run.feed(CancelRequested())
    assert run.state is before


def test_late_and_duplicate_outcomes_are_ignored() -> None:
    run = Run(saga(step("a"), step("b")))
    run.answer(OK)
    before = run.state
    run.feed(AttemptCompleted(step=0, direction=A, attempt=1, outcome=OK))  # duplicate of a's answer
    assert run.state is before and not run.last.actions
    run.feed(AttemptCompleted(step=1, direction=A, attempt=7, outcome=OK))  # unknown attempt
    assert run.state is before


def test_saga_deadline_clamps_timeouts_and_stops_retries_that_would_miss_it() -> None:
    run = Run(saga(step("a", timeout_ms=5000), step("b", timeout_ms=5000), deadline_ms=3000))
    assert run.pending_call().timeout_ms == 3000
    run.answer(OK, after_ms=1000)
    assert run.pending_call().timeout_ms == 2000
    run.answer(TIMEOUT, after_ms=2000)  # deadline reached: no time for a retry
    assert run.state.status is ExecutionStatus.COMPENSATING
    assert "deadline" in (run.state.error.message if run.state.error else "")
    # b timed out: its effect is unknown, so it is compensated before a
    assert run.pending_call().step_name == "b"


def test_step_deadline_bounds_all_attempts_of_the_step() -> None:
    run = Run(saga(step("a", max_attempts=10, deadline_ms=250)))
    run.answer(UNAVAILABLE, after_ms=50)  # retry in 100 ms, due at +150: fine
    assert run.state.wakeup is not None
    fire_wakeup(run)
    run.answer(UNAVAILABLE, after_ms=50)  # now +200, next wait 200 ms would pass +250
    assert run.state.status is ExecutionStatus.COMPENSATED
    assert "step deadline" in (run.state.steps[0].last_error or "")


def test_retry_after_replaces_backoff_up_to_max_interval() -> None:
    run = Run(saga(step("a", max_attempts=3)))
    run.answer(replace(UNAVAILABLE, retry_after_ms=600))
    assert run.state.wakeup is not None and run.state.wakeup.due_at_ms - run.now == 600
    fire_wakeup(run)
    run.answer(replace(UNAVAILABLE, retry_after_ms=60_000))
    assert run.state.wakeup is not None and run.state.wakeup.due_at_ms - run.now == 1000  # max_interval


def test_resume_resends_the_call_in_flight_with_the_same_attempt_and_key() -> None:
    run = Run(saga(step("a"), step("b")))
    first = run.pending_call()
    run.feed(Resumed(), after_ms=5000)
    again = run.pending_call()
    assert (again.attempt, again.idempotency_key) == (first.attempt, first.idempotency_key)
    assert run.history_types()[-1] == "attempt_resent"
    assert run.state.steps[0].attempts == 1


def test_a_taken_over_call_is_sent_again_only_after_the_first_send_ran_out_of_time() -> None:
    """The first send gave up at its deadline, but until then the participant may still be at it."""
    run = Run(saga(step("a", timeout_ms=4000), step("b")))
    first = run.pending_call()
    run.feed(Resumed(), after_ms=1500)  # a restart takes 1.5 s; the participant holds the call longer
    again = run.pending_call()
    assert again.started_at_ms == first.started_at_ms + 4000 + RESEND_MARGIN_MS
    assert again.timeout_ms == 4000
    assert run.last.history[-1].delay_ms == 4000 + RESEND_MARGIN_MS - 1500
    run.feed(Resumed(), after_ms=9000)  # long past it: at once
    assert run.pending_call().started_at_ms == run.now and run.last.history[-1].delay_ms is None


def test_a_redrive_of_our_own_call_sends_it_at_once() -> None:
    """This process owned it all along: what it is not sending is in flight nowhere."""
    run = Run(saga(step("a", timeout_ms=4000), step("b")))
    run.feed(Resumed(others_may_be_sending=False), after_ms=100)
    assert run.pending_call().started_at_ms == run.now


def test_a_held_resend_leaves_only_the_time_to_the_deadline() -> None:
    run = Run(saga(step("a", timeout_ms=4000), step("b"), deadline_ms=7000))
    run.feed(Resumed(), after_ms=1000)
    assert run.pending_call().timeout_ms == 7000 - 4000 - RESEND_MARGIN_MS


def test_resume_rearms_a_pending_wakeup_without_changing_state() -> None:
    run = Run(saga(step("a")))
    run.answer(UNAVAILABLE)
    before = run.state
    run.feed(Resumed())
    assert run.state is before
    assert [type(x) for x in run.last.actions] == [ArmWakeup]


def test_resume_after_the_saga_deadline_rolls_back_the_unknown_call() -> None:
    run = Run(saga(step("a"), step("b"), deadline_ms=10_000))
    run.answer(OK)
    run.feed(Resumed(), after_ms=60_000)
    assert run.state.status is ExecutionStatus.COMPENSATING
    assert run.state.steps[1].effect_possible
    assert run.pending_call().step_name == "b" and run.pending_call().direction is C


def test_resume_of_a_compensation_in_flight_resends_it() -> None:
    run = Run(saga(step("a"), step("b")))
    run.answer(OK)
    run.answer(CONFLICT)
    run.feed(Resumed())
    assert run.pending_call().direction is C and run.pending_call().attempt == 1


def test_terminal_states_absorb_events() -> None:
    run = Run(saga(step("a")))
    run.answer(OK)
    done = run.state
    for event in (Resumed(), CancelRequested(), WakeupFired(step=0, direction=A, attempt=2)):
        run.feed(event)
        assert run.state is done and not run.last.actions


def test_fatal_outcome_on_first_step_rolls_back_with_nothing_to_compensate() -> None:
    run = Run(saga(step("a"), step("b")))
    run.answer(StepOutcome(kind=OutcomeKind.FATAL, status_code=402, error="HTTP 402: card declined"))
    assert run.state.status is ExecutionStatus.COMPENSATED
    assert run.state.error is not None and "card declined" in run.state.error.message


SENT = RequestSnapshot(method="POST", url="http://svc:80/charge", headers={"authorization": "***"}, body={"n": 1})
SAID_NO = StepOutcome(
    kind=OutcomeKind.FATAL,
    status_code=422,
    error="HTTP 422",
    request=SENT,
    response=ResponseSnapshot(status=422, body={"errors": [{"field": "to", "msg": "mailbox does not exist"}]}),
)
SAID_YES = StepOutcome(
    kind=OutcomeKind.SUCCESS, status_code=201, request=SENT, response=ResponseSnapshot(status=201, body={"id": 7})
)


def test_each_finished_attempt_records_the_request_and_response_it_had() -> None:
    run = Run(saga(step("a"), step("b")))
    run.answer(SAID_YES)
    run.answer(SAID_NO)
    finished = [h for d in run.decisions for h in d.history if h.type in ("attempt_succeeded", "attempt_failed")]
    assert [(h.step, h.request, h.response) for h in finished] == [
        ("a", SENT, SAID_YES.response),
        ("b", SENT, SAID_NO.response),
    ]
    b = run.state.steps[1]
    assert b.last_exchange is not None
    assert (b.last_exchange.direction, b.last_exchange.attempt, b.last_exchange.response) == (A, 1, SAID_NO.response)
    assert b.response is None  # templates only ever read a successful forward answer


def test_a_compensation_attempt_becomes_the_last_exchange_without_touching_what_templates_read() -> None:
    run = Run(saga(step("a"), step("b")))
    run.answer(SAID_YES)
    run.answer(CONFLICT)
    run.answer(SAID_NO)  # a's compensation refused; it will be retried
    a = run.state.steps[0]
    assert a.response == SAID_YES.response
    assert a.last_exchange is not None and (a.last_exchange.direction, a.last_exchange.request) == (C, SENT)
    fire_wakeup(run)
    run.answer(StepOutcome(kind=OutcomeKind.RETRYABLE, error="connection refused"))  # nothing sent, nothing heard
    a = run.state.steps[0]
    assert a.last_exchange is not None
    assert (a.last_exchange.attempt, a.last_exchange.request, a.last_exchange.response) == (2, None, None)


def _failed_on_compensating(*names: str, failing: str) -> Run:
    """Every step succeeds but the last refuses; the compensation of `failing` exhausts its budget."""
    run = Run(saga(*(step(n, compensation_attempts=1) for n in names)))
    for _ in names[:-1]:
        run.answer(OK)
    run.answer(CONFLICT)
    while run.state.status is ExecutionStatus.COMPENSATING:
        call = run.pending_call()
        run.answer(CONFLICT if call.step_name == failing else OK)
    assert run.state.status is ExecutionStatus.FAILED
    return run


def test_resolve_marks_the_compensation_done_by_hand_and_rolls_back_the_steps_before_it() -> None:
    run = _failed_on_compensating("reserve", "charge", "ship", failing="charge")
    assert resolve_problem(run.spec, run.state, "charge") is None

    run.feed(ResolveRequested(step=1, note="refunded in the PSP dashboard", actor="ops-alice"))

    charge = run.state.steps[1]
    assert charge.status is StepStatus.COMPENSATED
    assert charge.resolution is not None
    assert (charge.resolution.note, charge.resolution.actor, charge.resolution.at_ms) == (
        "refunded in the PSP dashboard",
        "ops-alice",
        run.now,
    )
    [resolved] = [h for h in run.last.history if h.type == "compensation_resolved"]
    assert (resolved.step, resolved.direction, resolved.note, resolved.actor) == (
        "charge",
        C,
        "refunded in the PSP dashboard",
        "ops-alice",
    )
    assert run.state.status is ExecutionStatus.COMPENSATING
    assert (run.pending_call().step_name, run.pending_call().direction) == ("reserve", C)
    run.answer(OK)
    assert run.state.status is ExecutionStatus.COMPENSATED
    assert run.history_types()[-1] == "execution_compensated"


def test_resolving_the_oldest_compensation_ends_compensated() -> None:
    run = _failed_on_compensating("reserve", "charge", failing="reserve")
    run.feed(ResolveRequested(step=0, note="released by hand", actor=None))
    assert run.state.status is ExecutionStatus.COMPENSATED
    assert not run.last.actions
    assert run.history_types()[-2:] == ["compensation_resolved", "execution_compensated"]


def test_a_compensation_that_fails_after_a_resolve_fails_the_execution_again() -> None:
    run = _failed_on_compensating("a", "b", "c", failing="b")
    run.feed(ResolveRequested(step=1, note="done by hand"))
    run.answer(CONFLICT)  # a's compensation has a budget of one attempt
    assert run.state.status is ExecutionStatus.FAILED
    assert [s.status for s in run.state.steps] == [
        StepStatus.COMPENSATION_FAILED,
        StepStatus.COMPENSATED,
        StepStatus.FAILED,
    ]
    assert resolve_problem(run.spec, run.state, "b") == (
        "step 'b' is compensated: only a step whose compensation failed can be resolved"
    )
    assert resolve_problem(run.spec, run.state, "a") is None


def test_after_a_resolve_the_error_says_again_why_the_execution_was_rolled_back() -> None:
    """SPEC 8: resolve marks the compensation done; its failure is history (the step's resolution,
    `compensation_resolved`), not the execution's current error, which is the rollback's cause."""
    run = _failed_on_compensating("reserve", "charge", "ship", failing="charge")
    [started] = [h for d in run.decisions for h in d.history if h.type == "rollback_started"]
    cause = ExecutionError(step=started.step, message=started.error or "")
    assert run.state.error is not None and "compensation of step 'charge' failed" in run.state.error.message

    run.feed(ResolveRequested(step=1, note="refunded by hand", rollback_cause=cause))
    assert run.state.error == cause and cause.step == "ship" and "HTTP 409" in cause.message
    run.answer(OK)
    assert run.state.status is ExecutionStatus.COMPENSATED and run.state.error == cause


def test_a_resolve_without_the_cause_keeps_the_error() -> None:
    run = _failed_on_compensating("reserve", "charge", "ship", failing="charge")
    before = run.state.error
    run.feed(ResolveRequested(step=1, note="by hand"))
    assert run.state.error == before


def test_resolve_leaves_the_state_unchanged_where_it_does_not_apply_and_says_why() -> None:
    running = Run(saga(step("a"), step("b")))
    running.answer(OK)
    failed = _failed_on_compensating("a", "b", "c", failing="b")
    cases = [
        (running, "a", 0, "execution 'exec-1' is running: only a failed execution can be resolved"),
        (failed, "a", 0, "step 'a' is succeeded: only a step whose compensation failed can be resolved"),
        (failed, "c", 2, "step 'c' is failed: only a step whose compensation failed can be resolved"),
        (failed, "nope", 7, "saga 'test' has no step 'nope'"),
    ]
    for run, name, index, reason in cases:
        before = run.state
        assert resolve_problem(run.spec, before, name) == reason
        run.feed(ResolveRequested(step=index, note="n"))
        assert run.state is before and not run.last.actions and not run.last.history
