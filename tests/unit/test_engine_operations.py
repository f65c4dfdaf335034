"""Operator actions on in-memory parts: cancel while a call is in flight, and the long poll for the end."""

from __future__ import annotations

import asyncio

import pytest

from coordinator.core.history import HistoryEventType as H
from coordinator.core.state import ExecutionStatus, StepStatus
from coordinator.errors import ExecutionStateConflict
from tests.unit.engine_support import Gate, Nodes, three_steps

pytestmark = pytest.mark.usefixtures("no_io")


async def test_cancel_while_a_call_is_in_flight_waits_for_its_outcome_then_rolls_back(nodes: Nodes) -> None:
    gate = Gate()
    n = nodes(script={"b": [gate]})
    await n.service.register(three_steps())
    record, _ = await n.service.start("trip", {})
    await n.settle()
    assert gate.reached.is_set()

    cancelled = await n.service.cancel(record.state.id)

    # The call in flight is not abandoned: its outcome decides what b needs.
    assert cancelled.state.status is ExecutionStatus.RUNNING
    assert cancelled.state.cancel_reason == "cancelled by operator"
    assert cancelled.state.in_flight is not None
    gate.open()
    await n.settle()

    done = await n.service.execution(record.state.id)
    assert done.state.status is ExecutionStatus.COMPENSATED
    assert n.executor.calls() == ["a", "b", "undo b", "undo a"]  # c never starts; b took effect
    assert [s.status for s in done.state.steps][2] is StepStatus.SKIPPED
    assert H.CANCEL_REQUESTED in await n.history(record.state.id)
    with pytest.raises(ExecutionStateConflict):
        await n.service.cancel(record.state.id)


async def test_the_long_poll_returns_as_soon_as_the_execution_ends(nodes: Nodes) -> None:
    gate = Gate()
    n = nodes(script={"c": [gate]})
    await n.service.register(three_steps())
    record, _ = await n.service.start("trip", {})
    await n.settle()

    waiting = asyncio.create_task(n.service.wait_terminal(record.state.id, timeout_s=60))
    await n.settle()
    assert not waiting.done()

    gate.open()
    done = await asyncio.wait_for(waiting, timeout=5)  # a guard against a hang, never reached when it works

    assert done.state.status is ExecutionStatus.COMPLETED


async def test_the_long_poll_without_time_left_answers_with_the_execution_as_it_stands(nodes: Nodes) -> None:
    n = nodes(script={"a": [Gate()]})
    await n.service.register(three_steps())
    record, _ = await n.service.start("trip", {})
    await n.settle()

    now = await n.service.wait_terminal(record.state.id, timeout_s=0)

    assert now.state.status is ExecutionStatus.RUNNING
    assert now.state.in_flight is not None


async def test_retry_is_refused_for_an_execution_that_did_not_fail(nodes: Nodes) -> None:
    n = nodes()
    await n.service.register(three_steps())
    record, _ = await n.service.start("trip", {})
    await n.settle()

    with pytest.raises(ExecutionStateConflict):
        await n.service.retry(record.state.id)


async def test_a_watch_wakes_on_the_next_commit_and_answers_none_when_nothing_moves(nodes: Nodes) -> None:
    gate = Gate()
    n = nodes(script={"b": [gate]})
    await n.service.register(three_steps())
    record, _ = await n.service.start("trip", {})
    await n.settle()
    now = await n.service.execution(record.state.id)

    behind = await n.service.watch(record.state.id, now.state.revision - 1, timeout_s=60)
    assert behind is not None and behind.state.revision == now.state.revision  # already past: at once
    assert await n.service.watch(record.state.id, now.state.revision, timeout_s=0.01) is None

    watching = asyncio.create_task(n.service.watch(record.state.id, now.state.revision, timeout_s=60))
    await n.settle()
    assert not watching.done()
    gate.open()
    moved = await asyncio.wait_for(watching, timeout=5)  # a guard against a hang
    assert moved is not None and moved.state.revision > now.state.revision
