"""The event cycle on in-memory parts: a saga runs, retries on the manual clock, and rolls back newest first."""

from __future__ import annotations

import pytest

from coordinator.core.history import HistoryEventType as H
from coordinator.core.state import ExecutionStatus, StepStatus
from tests.unit.engine_support import REFUSED, RETRY_DELAY_MS, UNAVAILABLE, Nodes, three_steps

pytestmark = pytest.mark.usefixtures("no_io")


async def test_a_saga_runs_its_steps_in_order_and_completes(nodes: Nodes) -> None:
    n = nodes()
    await n.service.register(three_steps())

    record, created = await n.service.start("trip", {"order": "o-1"})
    await n.settle()

    done = await n.service.execution(record.state.id)
    assert created
    assert done.state.status is ExecutionStatus.COMPLETED
    assert [s.status for s in done.state.steps] == [StepStatus.SUCCEEDED] * 3
    assert n.executor.calls() == ["a", "b", "c"]
    assert await n.history(record.state.id) == [
        H.EXECUTION_STARTED,
        *[H.ATTEMPT_STARTED, H.ATTEMPT_SUCCEEDED] * 3,
        H.EXECUTION_COMPLETED,
    ]
    assert n.timers.pending() == 0 and n.calls.count() == 0


async def test_a_retry_waits_for_the_clock_then_resends_under_the_same_key(nodes: Nodes) -> None:
    n = nodes(script={"b": [UNAVAILABLE]})
    await n.service.register(three_steps())
    record, _ = await n.service.start("trip", {})
    await n.settle()

    waiting = await n.service.execution(record.state.id)
    assert waiting.state.status is ExecutionStatus.RUNNING
    assert waiting.state.wakeup is not None and n.timers.pending() == 1
    assert await n.timers.advance(RETRY_DELAY_MS - 1) == 0  # not due yet: nothing is sent
    assert n.executor.calls() == ["a", "b"]

    assert await n.timers.advance(1) == 1
    await n.settle()

    done = await n.service.execution(record.state.id)
    assert done.state.status is ExecutionStatus.COMPLETED
    assert n.executor.calls() == ["a", "b", "b", "c"]
    first, second = n.executor.keys("b")
    assert first == second
    assert H.RETRY_SCHEDULED in await n.history(record.state.id)


async def test_a_refused_step_rolls_back_the_steps_before_it_newest_first(nodes: Nodes) -> None:
    n = nodes(script={"c": [REFUSED]})
    await n.service.register(three_steps())
    record, _ = await n.service.start("trip", {})
    await n.settle()

    done = await n.service.execution(record.state.id)
    assert done.state.status is ExecutionStatus.COMPENSATED
    assert n.executor.calls() == ["a", "b", "c", "undo b", "undo a"]  # c never took effect
    assert [s.status for s in done.state.steps] == [StepStatus.COMPENSATED, StepStatus.COMPENSATED, StepStatus.FAILED]
    assert done.state.error is not None and done.state.error.step == "c"


async def test_a_compensation_retry_also_waits_for_the_clock(nodes: Nodes) -> None:
    n = nodes(script={"b": [REFUSED], "undo a": [UNAVAILABLE]})
    await n.service.register(three_steps())
    record, _ = await n.service.start("trip", {})
    await n.settle()
    assert (await n.service.execution(record.state.id)).state.status is ExecutionStatus.COMPENSATING

    await n.timers.advance(RETRY_DELAY_MS)
    await n.settle()

    assert (await n.service.execution(record.state.id)).state.status is ExecutionStatus.COMPENSATED
    assert n.executor.calls() == ["a", "b", "undo a", "undo a"]
