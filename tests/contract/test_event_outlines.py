"""A long history read in outline (without what was said), and the few entries a view shows in full."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coordinator.errors import ExecutionNotFound
from coordinator.ports import SagaStore

from .factories import T0, full_event, plain_state, record
from .test_exchanges import _run_to_failed


async def test_an_outline_is_every_entry_without_request_and_response(store: SagaStore) -> None:
    _, history = await _run_to_failed(store)

    full = (await store.list_events("ex-said", limit=100)).items
    outline = (await store.list_events("ex-said", limit=100, exchanges=False)).items

    assert [e.seq for e in outline] == [e.seq for e in full]
    assert [e.event for e in outline] == [replace(e, request=None, response=None) for e in history]
    assert any(e.event.request is not None for e in full)  # there was something to leave out


async def test_an_outline_pages_like_the_full_history(store: SagaStore) -> None:
    await _run_to_failed(store)

    first = await store.list_events("ex-said", limit=3, exchanges=False)
    rest = await store.list_events("ex-said", after_seq=int(first.next_cursor or 0), limit=100, exchanges=False)
    whole = (await store.list_events("ex-said", limit=100)).items

    assert first.next_cursor == "3"
    assert [e.seq for e in first.items + rest.items] == [e.seq for e in whole]
    assert rest.next_cursor is None


async def test_entries_at_positions_come_in_full_oldest_first(store: SagaStore) -> None:
    await _run_to_failed(store)
    whole = (await store.list_events("ex-said", limit=100)).items
    said = [e.seq for e in whole if e.event.request is not None]

    found = await store.events_at("ex-said", [said[2], said[0], 999, said[0]])

    assert found == [whole[said[0] - 1], whole[said[2] - 1]]  # duplicates once, a missing position left out
    assert await store.events_at("ex-said", []) == []


async def test_many_positions_at_once(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("ex-long")), tuple(full_event(T0 + i) for i in range(1200)))

    found = await store.events_at("ex-long", range(1, 1301))

    assert [e.seq for e in found] == list(range(1, 1201))
    assert found[-1].event == full_event(T0 + 1199)


async def test_an_unknown_execution_has_no_outline_and_no_entries(store: SagaStore) -> None:
    with pytest.raises(ExecutionNotFound):
        await store.list_events("nope", limit=10, exchanges=False)
    with pytest.raises(ExecutionNotFound):
        await store.events_at("nope", [1])
