"""What a replica cut off from its database (or slowed down on the way to it) must get right."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from coordinator.core.state import ExecutionStatus
from coordinator.engine.ownership import Ownership
from coordinator.errors import StoreUnavailable
from coordinator.store import MemoryStore
from tests.unit.engine_support import Nodes, three_steps

pytestmark = pytest.mark.usefixtures("no_io")


class AnswerLostStore(MemoryStore):
    """Commits the next insert, then fails as if the connection broke before the answer came."""

    def __init__(self, *, commit_first: bool) -> None:
        super().__init__()
        self.commit_first = commit_first
        self.armed = False

    async def create_execution(self, *args: Any, **kwargs: Any) -> Any:
        if not self.armed:
            return await super().create_execution(*args, **kwargs)
        self.armed = False
        if self.commit_first:
            await super().create_execution(*args, **kwargs)
        raise StoreUnavailable("database unavailable: no answer within the 2 s deadline")


async def test_a_start_whose_answer_was_lost_is_driven_by_the_next_sweep(nodes: Nodes) -> None:
    store = AnswerLostStore(commit_first=True)
    node = nodes(store)
    await node.service.register(three_steps())
    store.armed = True
    with pytest.raises(StoreUnavailable):
        await node.service.start("trip", {})
    page = await store.list_executions(limit=10)
    [orphan] = page.items  # it exists, leased to this replica, which renews it: nobody else claims it
    assert orphan.owner is not None

    await node.engine.recovery.sweep()
    await node.settle()

    done = await node.service.execution(orphan.state.id)
    assert done.state.status is ExecutionStatus.COMPLETED
    assert node.executor.calls() == ["a", "b", "c"]


async def test_a_start_that_never_committed_leaves_nothing_to_redrive(nodes: Nodes) -> None:
    store = AnswerLostStore(commit_first=False)
    node = nodes(store)
    await node.service.register(three_steps())
    store.armed = True
    with pytest.raises(StoreUnavailable):
        await node.service.start("trip", {})

    await node.engine.recovery.sweep()

    assert node.engine.cycle.take_stalled() == [], "an execution that does not exist is not stalled forever"


class SlowRenewals(MemoryStore):
    """Renewals whose answer takes `delay_s` of real time to come back (a slow path to the database)."""

    delay_s = 0.0

    async def renew(self, owner: str, *, lease_ms: int) -> int:
        renewed = await super().renew(owner, lease_ms=lease_ms)
        await asyncio.sleep(self.delay_s)
        return renewed


async def test_leases_count_from_when_the_renewal_was_sent_not_answered(nodes: Nodes) -> None:
    """The database set the expiry when it ran the renewal; a slow answer must not stretch it here."""
    store = SlowRenewals()
    node = nodes(store)
    ownership: Ownership = node.engine.recovery._parts.ownership
    ownership.lease_ms = 1500  # calls stop 1.2 s after the renewal was sent
    store.delay_s = 1.0
    sent = time.monotonic()
    await node.engine.recovery.renew()
    assert ownership.may_send()
    await asyncio.sleep(max(0.0, sent + 1.4 - time.monotonic()))
    assert not ownership.may_send(), "the lease, as the database set it, may be gone: no more calls"
    assert ownership.lapse_s() is not None
