"""What was said, and an operator's resolve, survive every store as the machine recorded them."""

from __future__ import annotations

from dataclasses import replace

from coordinator.core import (
    AttemptCompleted,
    CallStep,
    Decision,
    Direction,
    ExecutionStatus,
    HistoryEvent,
    HistoryEventType,
    OutcomeKind,
    ResolveRequested,
    ResponseSnapshot,
    StepOutcome,
    StepStatus,
    begin_execution,
    decide,
)
from coordinator.ports import SagaStore
from tests.unit.machine_helpers import saga, step

from .factories import T0, error_response, record, sent_request

SPEC = saga(step("reserve"), step("charge", compensation_attempts=1), step("ship"))
ANSWERED = StepOutcome(
    kind=OutcomeKind.SUCCESS,
    status_code=201,
    request=sent_request(),
    response=ResponseSnapshot(status=201, headers={"location": "/r/1"}, body={"reservation_id": "res-1"}),
)
REFUSED = StepOutcome(
    kind=OutcomeKind.FATAL, status_code=422, error="HTTP 422", request=sent_request(), response=error_response()
)
UNREACHABLE = StepOutcome(kind=OutcomeKind.RETRYABLE, error="connection refused by 127.0.0.1:8199")


def _answer(decision: Decision, outcome: StepOutcome, now: int) -> Decision:
    [call] = [a for a in decision.actions if isinstance(a, CallStep)]
    event = AttemptCompleted(step=call.step, direction=call.direction, attempt=call.attempt, outcome=outcome)
    return decide(SPEC, decision.state, event, now_ms=now)


async def _commit(store: SagaStore, before: Decision, decision: Decision) -> Decision:
    """Commit `decision`; the returned one carries the state as committed (its new revision)."""
    committed = await store.commit(decision.state, decision.history, expected_revision=before.state.revision)
    return replace(decision, state=committed)


async def _run_to_failed(store: SagaStore) -> tuple[Decision, list[HistoryEvent]]:
    """reserve and charge succeed, ship is refused, charge's one compensation attempt is refused."""
    decision = begin_execution(SPEC, "ex-said", now_ms=T0)
    await store.create_execution(record(decision.state), decision.history)
    history = list(decision.history)
    for i, outcome in enumerate((ANSWERED, ANSWERED, REFUSED, REFUSED), start=1):
        decision = await _commit(store, decision, _answer(decision, outcome, T0 + 10 * i))
        history += decision.history
    return decision, history


async def test_requests_and_responses_of_every_attempt_round_trip(store: SagaStore) -> None:
    decision, history = await _run_to_failed(store)

    loaded = await store.load_execution("ex-said")
    stored = [e.event for e in (await store.list_events("ex-said", limit=100)).items]

    assert loaded.state.status is ExecutionStatus.FAILED
    assert loaded.state.steps == decision.state.steps
    assert stored == history
    said = [(e.step, e.direction, e.request, e.response) for e in stored if e.request is not None]
    assert said == [
        ("reserve", Direction.ACTION, sent_request(), ANSWERED.response),
        ("charge", Direction.ACTION, sent_request(), ANSWERED.response),
        ("ship", Direction.ACTION, sent_request(), error_response()),
        ("charge", Direction.COMPENSATION, sent_request(), error_response()),
    ]
    charge = loaded.state.steps[1]
    assert charge.response == ANSWERED.response  # what templates read stays the forward answer
    assert charge.last_exchange is not None
    assert (charge.last_exchange.direction, charge.last_exchange.response) == (Direction.COMPENSATION, error_response())


async def test_an_attempt_that_said_nothing_replaces_the_last_exchange(store: SagaStore) -> None:
    decision = begin_execution(SPEC, "ex-quiet", now_ms=T0)
    await store.create_execution(record(decision.state), decision.history)
    await _commit(store, decision, _answer(decision, UNREACHABLE, T0 + 10))

    loaded = await store.load_execution("ex-quiet")

    exchange = loaded.state.steps[0].last_exchange
    assert exchange is not None and (exchange.attempt, exchange.request, exchange.response) == (1, None, None)
    [failed] = [e.event for e in (await store.list_events("ex-quiet", limit=10)).items if e.event.outcome]
    assert (failed.request, failed.response) == (None, None)


async def test_an_operator_resolve_round_trips(store: SagaStore) -> None:
    failed, _ = await _run_to_failed(store)
    resolve = ResolveRequested(step=1, note="refunded in the PSP dashboard", actor="ops-alice")
    decision = await _commit(store, failed, decide(SPEC, failed.state, resolve, now_ms=T0 + 100))

    loaded = await store.load_execution("ex-said")
    stored = [e.event for e in (await store.list_events("ex-said", after_seq=10, limit=100)).items]

    assert loaded.state.steps == decision.state.steps
    charge = loaded.state.steps[1]
    assert charge.status is StepStatus.COMPENSATED
    assert charge.resolution is not None
    assert (charge.resolution.note, charge.resolution.actor) == ("refunded in the PSP dashboard", "ops-alice")
    [resolved] = [e for e in stored if e.type is HistoryEventType.COMPENSATION_RESOLVED]
    assert (resolved.step, resolved.note, resolved.actor) == ("charge", "refunded in the PSP dashboard", "ops-alice")


async def test_a_brief_list_leaves_out_what_was_said_and_nothing_else(store: SagaStore) -> None:
    decision, _ = await _run_to_failed(store)

    [brief] = (await store.list_executions(limit=10, brief=True)).items
    [full] = (await store.list_executions(limit=10)).items

    assert full.state.steps == decision.state.steps  # the default list is complete
    assert any(s.response is not None for s in full.state.steps)
    assert any(s.last_exchange is not None for s in full.state.steps)
    assert [(s.response, s.last_exchange) for s in brief.state.steps] == [(None, None)] * len(SPEC.steps)
    unsaid = tuple(replace(s, response=None, last_exchange=None) for s in full.state.steps)
    assert replace(brief, state=replace(brief.state, steps=unsaid)) == replace(
        full, state=replace(full.state, steps=unsaid)
    )
