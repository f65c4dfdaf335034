"""The keyset-paginated lists of executions and events, and recovery's work list."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coordinator.core.state import ExecutionStatus
from coordinator.ports import ExecutionQuery, ExecutionRecord, SagaStore

from .factories import T0, label_of, labelled, plain_state, record

STATUSES = list(ExecutionStatus)


def _spec(i: int) -> tuple[str, str, ExecutionStatus, int]:
    """id, saga, status and creation time of the i-th execution: timestamps tie in threes."""
    return f"ex-{(i * 7) % 25:02d}", ("checkout", "refund")[i % 2], STATUSES[i % len(STATUSES)], T0 + i // 3


@pytest.fixture
async def populated(store: SagaStore) -> list[ExecutionRecord]:
    """25 executions over two sagas and every status, with tied creation times."""
    made = []
    for i in range(25):
        execution_id, saga, status, at = _spec(i)
        created, _ = await store.create_execution(
            record(plain_state(execution_id, saga=saga, status=status, created_at_ms=at)), ()
        )
        made.append(created)
    return made


def _newest_first(records: list[ExecutionRecord]) -> list[str]:
    ordered = sorted(records, key=lambda r: (r.state.created_at_ms, r.state.id), reverse=True)
    return [r.state.id for r in ordered]


async def _walk(store: SagaStore, limit: int, **filters: object) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list_executions(ExecutionQuery(**filters), limit=limit, cursor=cursor)  # type: ignore[arg-type]
        assert len(page.items) <= limit
        seen.extend(r.state.id for r in page.items)
        if page.next_cursor is None:
            return seen
        assert page.items, "a page with a next cursor is never empty"
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 4, 25, 100])
async def test_executions_newest_first_across_pages(
    store: SagaStore, populated: list[ExecutionRecord], limit: int
) -> None:
    assert await _walk(store, limit) == _newest_first(populated)


async def test_listed_records_are_complete(store: SagaStore, populated: list[ExecutionRecord]) -> None:
    page = await store.list_executions(limit=25)

    assert sorted(page.items, key=lambda r: r.state.id) == sorted(populated, key=lambda r: r.state.id)


@pytest.mark.parametrize(
    "filters",
    [
        {"saga": "refund"},
        {"status": ExecutionStatus.COMPLETED},
        {"saga": "checkout", "status": ExecutionStatus.RUNNING},
        {"saga": "unknown"},
    ],
)
async def test_executions_filtered(
    store: SagaStore, populated: list[ExecutionRecord], filters: dict[str, object]
) -> None:
    expected = [
        r
        for r in populated
        if r.state.saga == filters.get("saga", r.state.saga) and r.state.status == filters.get("status", r.state.status)
    ]

    assert await _walk(store, 2, **filters) == _newest_first(expected)


async def test_listing_follows_commits(store: SagaStore, populated: list[ExecutionRecord]) -> None:
    running = next(r for r in populated if r.state.status is ExecutionStatus.RUNNING)
    await store.commit(replace(running.state, status=ExecutionStatus.COMPLETED), (), expected_revision=0)

    completed = await _walk(store, 3, status=ExecutionStatus.COMPLETED)

    assert running.state.id in completed


async def test_events_page_in_seq_order(store: SagaStore) -> None:
    created, _ = await store.create_execution(
        record(plain_state("ex-1")), (labelled("e1"), labelled("e2"), labelled("e3"))
    )
    state = created.state
    for n in range(4, 11):
        state = await store.commit(state, (labelled(f"e{n}", at=T0 + n),), expected_revision=state.revision)

    types: list[str] = []
    seqs: list[int] = []
    after = 0
    while True:
        page = await store.list_events("ex-1", after_seq=after, limit=3)
        types.extend(label_of(e.event) for e in page.items)
        seqs.extend(e.seq for e in page.items)
        if page.next_cursor is None:
            break
        after = int(page.next_cursor)  # the next page's `after_seq`

    assert types == [f"e{n}" for n in range(1, 11)]
    assert seqs == list(range(1, 11))
    tail = await store.list_events("ex-1", after_seq=8, limit=100)
    assert [e.seq for e in tail.items] == [9, 10]
    assert tail.next_cursor is None
    assert (await store.list_events("ex-1", after_seq=10, limit=5)).items == []


async def test_empty_lists(store: SagaStore) -> None:
    page = await store.list_executions(limit=10)
    assert (page.items, page.next_cursor) == ([], None)
