"""A big execution, written straight into a store: the console's worst page, for the bench and its test.

100 steps, every forward call retried before it succeeded, the last one refused, then every
compensation retried too: about 5,000 history entries, each finished attempt with its request and
response as the executor keeps them. Building it through the store (not by running a saga for
minutes against a flaky participant) makes it quick, and exactly the same every time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.outcome import RequestSnapshot, ResponseSnapshot
from coordinator.core.state import (
    AttemptExchange,
    Direction,
    ExecutionState,
    ExecutionStatus,
    StepState,
    StepStatus,
)
from coordinator.ports import ExecutionRecord, SagaStore, StoredDefinition

STEPS = 100
FORWARD_FAILURES = 10
"""Failed attempts of each forward call before the one that succeeds (the last step never does)."""
UNDO_FAILURES = 6
"""Failed attempts of each compensation before the one that succeeds."""
SAGA = "bench-big"
T0 = 1_790_000_000_000
_ATTEMPT_MS = 40
_WAIT_MS = 250


@dataclass(frozen=True, slots=True)
class BigExecution:
    """What was stored: the execution's id and how many history entries it has."""

    id: str
    events: int
    steps: int


async def store_big_execution(
    store: SagaStore,
    execution_id: str = "big-execution",
    *,
    steps: int = STEPS,
    forward_failures: int = FORWARD_FAILURES,
    undo_failures: int = UNDO_FAILURES,
) -> BigExecution:
    """Write the saga's definition and the execution (a commit per step, as the engine would).

    Smaller shapes (fewer steps, fewer retries) are for tests of an ordinary execution's page.
    """
    await store.add_definition(_definition(steps))
    names = [f"step_{i:03d}" for i in range(steps)]
    state = ExecutionState(
        id=execution_id,
        saga=SAGA,
        version=1,
        status=ExecutionStatus.RUNNING,
        steps=tuple(StepState(name=n) for n in names),
        created_at_ms=T0,
        updated_at_ms=T0,
    )
    record = ExecutionRecord(
        state=state,
        input={"order": "ord-big", "lines": [{"sku": f"sku-{i}", "qty": i % 5 + 1} for i in range(20)]},
        idempotency_key=None,
        request_digest=None,
        trace_context={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        business_key="ord-big",
    )
    started = HistoryEvent(type=HistoryEventType.EXECUTION_STARTED, at_ms=T0)
    await store.create_execution(record, (started,))
    clock = _Clock(T0)
    total = 1
    for index, name in enumerate(names):
        last = index == steps - 1
        tries = forward_failures + (0 if last else 1)
        history = _attempts(clock, name, Direction.ACTION, tries, succeed=not last)
        status = StepStatus.FAILED if last else StepStatus.SUCCEEDED
        if last:
            history += [
                HistoryEvent(type=HistoryEventType.STEP_FAILED, at_ms=clock.tick(), step=name, error="HTTP 402"),
                HistoryEvent(type=HistoryEventType.ROLLBACK_STARTED, at_ms=clock.tick()),
            ]
        state = await _commit(store, state, index, history, status=status, attempts=tries, now=clock)
        total += len(history)
    for index in reversed(range(steps - 1)):
        history = _attempts(clock, names[index], Direction.COMPENSATION, undo_failures + 1, succeed=True)
        state = await _commit(
            store, state, index, history, status=StepStatus.COMPENSATED, compensations=undo_failures + 1, now=clock
        )
        total += len(history)
    ended = HistoryEvent(type=HistoryEventType.EXECUTION_COMPENSATED, at_ms=clock.tick())
    final = replace(state, status=ExecutionStatus.COMPENSATED, updated_at_ms=clock.now, finished_at_ms=clock.now)
    await store.commit(final, (ended,), expected_revision=state.revision, previous=state)
    return BigExecution(id=execution_id, events=total + 1, steps=steps)


class _Clock:
    def __init__(self, start: int) -> None:
        self.now = start

    def tick(self, ms: int = 1) -> int:
        self.now += ms
        return self.now


def _attempts(clock: _Clock, step: str, direction: Direction, count: int, *, succeed: bool) -> list[HistoryEvent]:
    """`count` attempts of one call: each failed one followed by its retry's wait; the last succeeds if `succeed`."""
    events: list[HistoryEvent] = []
    for attempt in range(1, count + 1):
        ok = succeed and attempt == count
        events.append(
            HistoryEvent(
                type=HistoryEventType.ATTEMPT_STARTED, at_ms=clock.tick(), step=step, direction=direction,
                attempt=attempt,
            )
        )
        status = 200 if ok else (503 if attempt < count else 402)
        events.append(
            HistoryEvent(
                type=HistoryEventType.ATTEMPT_SUCCEEDED if ok else HistoryEventType.ATTEMPT_FAILED,
                at_ms=clock.tick(_ATTEMPT_MS),
                step=step,
                direction=direction,
                attempt=attempt,
                status_code=status,
                error=None if ok else f"HTTP {status}: the service is busy, try later",
                duration_ms=_ATTEMPT_MS,
                outcome="success" if ok else ("retryable" if status == 503 else "fatal"),
                request=_request(step, direction, attempt),
                response=_response(status, step),
            )
        )
        if attempt < count:
            events.append(
                HistoryEvent(
                    type=HistoryEventType.RETRY_SCHEDULED, at_ms=clock.tick(), step=step, direction=direction,
                    attempt=attempt + 1, delay_ms=_WAIT_MS, error=f"HTTP {status}",
                )
            )
            clock.tick(_WAIT_MS)
    return events


async def _commit(
    store: SagaStore,
    state: ExecutionState,
    index: int,
    history: list[HistoryEvent],
    *,
    status: StepStatus,
    now: _Clock,
    attempts: int | None = None,
    compensations: int | None = None,
) -> ExecutionState:
    step = state.steps[index]
    # What the engine keeps of the step's latest finished attempt (core/attempts.py keep_exchange).
    answered = [e for e in history if e.type in (HistoryEventType.ATTEMPT_SUCCEEDED, HistoryEventType.ATTEMPT_FAILED)]
    last = answered[-1] if answered else None
    exchange = step.last_exchange
    if last is not None and last.direction is not None and last.attempt is not None:
        exchange = AttemptExchange(
            direction=last.direction, attempt=last.attempt, request=last.request, response=last.response
        )
    changed = replace(
        step,
        last_exchange=exchange,
        status=status,
        attempts=attempts if attempts is not None else step.attempts,
        compensation_attempts=compensations if compensations is not None else step.compensation_attempts,
        effect_possible=status is not StepStatus.FAILED,
        started_at_ms=step.started_at_ms or history[0].at_ms,
        finished_at_ms=now.now,
    )
    steps = (*state.steps[:index], changed, *state.steps[index + 1 :])
    rolling_back = status is not StepStatus.SUCCEEDED
    new = replace(
        state,
        steps=steps,
        updated_at_ms=now.now,
        status=ExecutionStatus.COMPENSATING if rolling_back else state.status,
    )
    return await store.commit(new, tuple(history), expected_revision=state.revision, previous=state)


def _request(step: str, direction: Direction, attempt: int) -> RequestSnapshot:
    body: dict[str, Any] = {
        "order": "ord-big",
        "step": step,
        "attempt": attempt,
        "lines": [{"sku": f"sku-{i}", "qty": i % 5 + 1, "price": 1250 + i} for i in range(8)],
    }
    suffix = "/undo" if direction is Direction.COMPENSATION else ""
    return RequestSnapshot(
        method="POST",
        url=f"http://participant.internal:8000/{step}{suffix}",
        headers={"content-type": "application/json", "authorization": "***", "idempotency-key": f"{step}-{attempt}"},
        body=body,
    )


def _response(status: int, step: str) -> ResponseSnapshot:
    body: dict[str, Any] = (
        {"id": f"{step}-ok", "accepted": True, "items": list(range(12))}
        if status == 200
        else {"error": "busy" if status == 503 else "refused", "detail": "the service is busy, try later" * 3}
    )
    return ResponseSnapshot(status=status, headers={"content-type": "application/json", "x-request-id": "r-1"},
                            body=body)


def _definition(steps: int) -> StoredDefinition:
    body: dict[str, Any] = {
        "name": SAGA,
        "steps": [
            {
                "name": f"step_{i:03d}",
                "action": {"method": "POST", "url": f"http://participant.internal:8000/step_{i:03d}"},
                "compensation": {"method": "POST", "url": f"http://participant.internal:8000/step_{i:03d}/undo"},
            }
            for i in range(steps)
        ],
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return StoredDefinition(name=SAGA, version=1, document={**body, "version": 1}, digest=digest, created_at_ms=T0)


def store_into(url: str) -> BigExecution:
    """Write the big execution into the (already migrated) database at `url`; the coordinator must not run."""
    import asyncio

    from coordinator.store import open_store

    async def write() -> BigExecution:
        store = await open_store(url, migrate=False)
        try:
            return await store_big_execution(store)
        finally:
            await store.close()

    return asyncio.run(write())
