"""Counts per status: what the console's executions list shows above its rows."""

from __future__ import annotations

from collections import Counter

from coordinator.core.state import ExecutionStatus
from coordinator.ports import SagaStore

from .factories import T0, plain_state, record

STATUSES = list(ExecutionStatus)


async def test_counts_per_status_overall_and_per_saga(store: SagaStore) -> None:
    expected: dict[str, Counter[ExecutionStatus]] = {"checkout": Counter(), "refund": Counter()}
    for i in range(17):
        saga = ("checkout", "refund")[i % 2]
        status = STATUSES[(i * 3) % len(STATUSES)]
        await store.create_execution(
            record(plain_state(f"ex-{i:02d}", saga=saga, status=status, created_at_ms=T0 + i)), ()
        )
        expected[saga][status] += 1
    assert await store.count_by_status() == dict(expected["checkout"] + expected["refund"])
    assert await store.count_by_status(saga="refund") == dict(expected["refund"])
    assert await store.count_by_status(saga="nobody") == {}
