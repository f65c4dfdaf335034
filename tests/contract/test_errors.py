"""Cursors and limits that the store refuses, ping, and a closed store."""

from __future__ import annotations

import base64
import json

import pytest

from coordinator.errors import InvalidInput, StoreUnavailable
from coordinator.ports import SagaStore

from .factories import definition, plain_state, record


def _forged(*data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(data)).encode()).decode()


BAD_CURSORS = [
    "!!!not base64!!!",
    base64.urlsafe_b64encode(b"\xff\xfe not json").decode(),
    _forged(),
    _forged("x", "1790000000000", "ex-1"),  # a string where the time belongs
    _forged("x", True, "ex-1"),  # JSON true is not a time
    _forged("x", 1),  # too short
    _forged("d", "checkout"),  # a cursor of the definitions list
    "",
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
async def test_invalid_execution_cursor(store: SagaStore, cursor: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        await store.list_executions(limit=10, cursor=cursor)

    assert [p.path for p in raised.value.problems] == ["cursor"]
    assert raised.value.detail == "invalid cursor"


async def test_invalid_definition_and_version_cursors(store: SagaStore) -> None:
    for version in (1, 2, 3):
        await store.add_definition(definition("checkout", version, steps=version))
        await store.add_definition(definition("refund", version, steps=version))
    other_saga = (await store.list_versions("refund", limit=1)).next_cursor
    executions_cursor = _forged("x", 1, "ex-1")

    with pytest.raises(InvalidInput):
        await store.list_definitions(limit=1, cursor=executions_cursor)
    with pytest.raises(InvalidInput):
        await store.list_versions("checkout", limit=1, cursor=executions_cursor)
    with pytest.raises(InvalidInput):
        await store.list_versions("checkout", limit=1, cursor=other_saga)


async def test_a_cursor_is_opaque_text_that_survives_a_url(store: SagaStore) -> None:
    for i in range(3):
        await store.create_execution(record(plain_state(f"ex/{i}?&= ✓")), ())

    page = await store.list_executions(limit=1)

    assert page.next_cursor is not None
    assert all(c.isalnum() or c in "-_" for c in page.next_cursor)


@pytest.mark.parametrize("limit", [0, -1])
async def test_limit_below_one_is_refused(store: SagaStore, limit: int) -> None:
    with pytest.raises(InvalidInput) as raised:
        await store.list_executions(limit=limit)
    assert [p.path for p in raised.value.problems] == ["limit"]


async def test_ping_then_closed_store_is_unavailable(store: SagaStore) -> None:
    await store.ping()

    await store.close()
    await store.close()  # idempotent

    with pytest.raises(StoreUnavailable):
        await store.ping()
