"""Parallel groups and the pivot through the engine on in-memory parts: members in flight side by
side, every member re-sent under its own key after a process dies, the pivot's operator rules."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.core.history import HistoryEventType as H
from coordinator.core.state import ExecutionStatus, StepStatus
from coordinator.errors import ExecutionStateConflict
from tests.unit.engine_support import REFUSED, UNAVAILABLE, Gate, Nodes

pytestmark = pytest.mark.usefixtures("no_io")


def _step(name: str, *, compensable: bool = True, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": name,
        "action": {"method": "POST", "url": f"http://participant.invalid/{name}", "timeout": "5s"},
        "retry": {"max_attempts": 2, "initial_interval": "1s", "jitter": "none"},
        **extra,
    }
    if compensable:
        step["compensation"] = {"method": "POST", "url": f"http://participant.invalid/{name}/undo"}
    return step


def checkout() -> dict[str, Any]:
    """reserve, then [charge | book], then ship (the pivot), then confirm."""
    return {
        "name": "checkout",
        "steps": [
            _step("reserve"),
            {"parallel": {"name": "pay_and_book", "steps": [_step("charge"), _step("book")]}},
            _step("ship", compensable=False, pivot=True),
            _step("confirm", compensable=False),
        ],
    }


async def test_members_are_in_flight_together_and_the_next_step_waits_for_both(nodes: Nodes) -> None:
    charge, book = Gate(), Gate()
    node = nodes(script={"charge": [charge], "book": [book]})
    await node.service.register(checkout())
    record, _ = await node.service.start("checkout", {})
    await node.settle()
    assert node.executor.held == 2  # both members' calls are out at once

    book.open()
    await node.settle()
    assert node.executor.calls() == ["reserve", "charge", "book"]
    charge.open()
    await node.settle()

    done = await node.service.execution(record.state.id)
    assert done.state.status is ExecutionStatus.COMPLETED
    assert node.executor.calls()[3:] == ["ship", "confirm"]


async def test_after_a_crash_every_member_in_flight_is_resent_under_its_own_key(nodes: Nodes) -> None:
    first = nodes(script={"charge": [Gate()], "book": [Gate()]})
    await first.service.register(checkout())
    record, _ = await first.service.start("checkout", {})
    await first.settle()
    await first.calls.drain(grace_s=0)  # the process dies with both calls out

    second = nodes(first.store, clock=first.clock)
    await second.engine.recovery.recover(take_all=True)
    await second.pass_resend_hold()

    done = await second.service.execution(record.state.id)
    assert done.state.status is ExecutionStatus.COMPLETED
    assert sorted(second.executor.calls()[:2]) == ["book", "charge"]
    assert second.executor.keys("charge") == first.executor.keys("charge") == [f"{record.state.id}:charge:action"]
    assert second.executor.keys("book") == first.executor.keys("book") == [f"{record.state.id}:book:action"]
    assert (await second.history(record.state.id)).count(H.ATTEMPT_RESENT) == 2


async def test_after_a_crash_in_the_group_rollback_every_compensation_is_resent_then_the_steps_before(
    nodes: Nodes,
) -> None:
    first = nodes(script={"ship": [REFUSED], "undo charge": [Gate()], "undo book": [Gate()]})
    await first.service.register(checkout())
    record, _ = await first.service.start("checkout", {})
    await first.settle()
    assert first.executor.held == 2
    await first.calls.drain(grace_s=0)

    second = nodes(first.store, clock=first.clock)
    await second.engine.recovery.recover(take_all=True)
    await second.pass_resend_hold()

    done = await second.service.execution(record.state.id)
    assert done.state.status is ExecutionStatus.COMPENSATED
    assert sorted(second.executor.calls()[:2]) == ["undo book", "undo charge"]
    assert second.executor.calls()[2:] == ["undo reserve"]
    assert second.executor.keys("undo book") == first.executor.keys("undo book")


async def test_past_the_pivot_cancel_is_refused_a_failure_ends_failed_and_retry_carries_it_forward(
    nodes: Nodes,
) -> None:
    confirm = Gate(UNAVAILABLE)
    node = nodes(script={"confirm": [confirm, UNAVAILABLE]})
    await node.service.register(checkout())
    record, _ = await node.service.start("checkout", {})
    await node.settle()

    with pytest.raises(ExecutionStateConflict, match="pivot"):
        await node.service.cancel(record.state.id)
    confirm.open()
    await node.settle()
    await node.timers.advance(1_000)
    await node.settle()
    failed = await node.service.execution(record.state.id)
    assert failed.state.status is ExecutionStatus.FAILED
    assert failed.state.error is not None and failed.state.error.step == "confirm"
    assert failed.state.error.direction is not None and failed.state.error.direction.value == "action"
    assert "undo" not in " ".join(node.executor.calls())

    await node.service.retry(record.state.id)
    await node.settle()
    done = await node.service.execution(record.state.id)
    assert done.state.status is ExecutionStatus.COMPLETED
    assert done.state.steps[4].status is StepStatus.SUCCEEDED and done.state.steps[4].attempts == 3
