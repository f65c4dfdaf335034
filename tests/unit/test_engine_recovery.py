"""Recovery on in-memory parts: a second process takes over a dropped one, and the first's late outcome is fenced."""

from __future__ import annotations

import pytest

from coordinator.core.history import HistoryEventType as H
from coordinator.core.machine import RESEND_MARGIN_MS
from coordinator.core.state import ExecutionStatus
from tests.unit.engine_support import Gate, Nodes, three_steps

pytestmark = pytest.mark.usefixtures("no_io")


async def test_a_second_process_resends_the_call_in_flight_under_the_same_key_and_finishes(nodes: Nodes) -> None:
    first = nodes(script={"b": [Gate()]})
    await first.service.register(three_steps())
    record, _ = await first.service.start("trip", {})
    await first.settle()
    # The first process dies mid-call: its task is gone, its lease is never released.
    await first.calls.drain(grace_s=0)

    second = nodes(first.store, clock=first.clock)
    taken = await second.engine.recovery.recover(take_all=True)
    await second.settle()
    # The participant may still be working on the first send: nothing goes out before its timeout ran out.
    await second.timers.advance(4_999 + RESEND_MARGIN_MS)
    await second.settle()
    assert second.executor.calls() == []
    await second.pass_resend_hold(timeout_ms=1)

    done = await second.service.execution(record.state.id)
    assert taken == 1
    assert done.state.status is ExecutionStatus.COMPLETED
    assert second.executor.calls() == ["b", "c"]
    assert second.executor.keys("b") == first.executor.keys("b")
    assert H.ATTEMPT_RESENT in await second.history(record.state.id)


async def test_a_late_outcome_of_a_fenced_owner_is_dropped(nodes: Nodes) -> None:
    stale, resent = Gate(), Gate()
    first = nodes(script={"b": [stale]})
    await first.service.register(three_steps())
    record, _ = await first.service.start("trip", {})
    await first.settle()
    second = nodes(first.store, {"b": [resent]}, clock=first.clock)
    await second.engine.recovery.recover(take_all=True)  # e.g. the first was paused past its lease
    await second.pass_resend_hold()
    before = await first.history(record.state.id)

    stale.open()  # the first process wakes up and reports b's outcome
    await first.settle()

    assert await first.history(record.state.id) == before  # nothing of the fenced owner was written
    assert first.executor.calls() == ["a", "b"]  # and it sent nothing more
    resent.open()
    await second.settle()
    done = await second.service.execution(record.state.id)
    assert done.state.status is ExecutionStatus.COMPLETED
    assert (await second.history(record.state.id)).count(H.ATTEMPT_SUCCEEDED) == 3


async def test_an_outcome_after_losing_and_taking_back_the_execution_is_applied(nodes: Nodes) -> None:
    """The process lost the execution (its lease lapsed, another claimed it) and took it back while
    its call was still in flight: the call is not sent again beside itself, and its outcome,
    decided at first on the record remembered from the older lease (fenced), is decided again on
    the stored one instead of being dropped, which would leave the execution stuck."""
    gate = Gate()
    first = nodes(script={"b": [gate]})
    await first.service.register(three_steps())
    record, _ = await first.service.start("trip", {})
    await first.settle()
    execution_id = record.state.id
    assert await first.store.claim("another-replica", lease_ms=60_000, limit=1, ids=[execution_id], force=True)
    await first.engine.recovery.recover(take_all=True)  # takes it back: a new epoch
    await first.settle()
    assert first.executor.calls() == ["a", "b"], "the call still in flight here was sent again"

    gate.open()
    await first.settle()
    done = await first.service.execution(execution_id)
    assert done.state.status is ExecutionStatus.COMPLETED, done.state
    assert first.executor.calls() == ["a", "b", "c"]
