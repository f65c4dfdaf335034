"""Definitions: add, get, conflicts, and the two paginated lists."""

from __future__ import annotations

import pytest

from coordinator.errors import DefinitionConflict, SagaNotFound, SagaVersionNotFound
from coordinator.ports import SagaStore, StoredDefinition

from .factories import T0, definition


async def test_add_then_get_returns_the_document_as_registered(store: SagaStore) -> None:
    added, created = await store.add_definition(definition("checkout", 1))

    assert created is True
    assert added == definition("checkout", 1)
    assert await store.get_definition("checkout", 1) == added
    assert await store.get_definition("checkout") == added


async def test_latest_is_the_highest_version_not_the_last_added(store: SagaStore) -> None:
    await store.add_definition(definition("checkout", 2, steps=2))
    await store.add_definition(definition("checkout", 10, steps=3))
    await store.add_definition(definition("checkout", 3, steps=4))

    assert (await store.get_definition("checkout")).version == 10
    assert (await store.get_definition("checkout", 3)).document["steps"][3]["name"] == "s3"


async def test_latest_stays_right_whatever_was_read_or_added_before(store: SagaStore) -> None:
    # A store may remember versions it read; an old version read first must not pass for the latest.
    for version in (2, 10, 3):
        await store.add_definition(definition("checkout", version, steps=version))
    assert (await store.get_definition("checkout", 3)).version == 3
    assert (await store.get_definition("checkout")).version == 10
    await store.add_definition(definition("checkout", 11, steps=11))
    assert (await store.get_definition("checkout")).version == 11
    await store.add_definition(definition("checkout", 4, steps=5))
    assert (await store.get_definition("checkout")).version == 11


async def test_same_digest_is_a_no_op_returning_the_stored_version(store: SagaStore) -> None:
    first, _ = await store.add_definition(definition("checkout", 1, at=T0))

    again, created = await store.add_definition(definition("checkout", 1, at=T0 + 5_000))

    assert created is False
    assert again == first  # the stored one, with its original registration time


async def test_same_version_with_another_body_conflicts(store: SagaStore) -> None:
    await store.add_definition(definition("checkout", 1, steps=2))

    with pytest.raises(DefinitionConflict):
        await store.add_definition(definition("checkout", 1, steps=3))

    assert (await store.get_definition("checkout", 1)).document["steps"][-1]["name"] == "s1"


async def test_unknown_saga_and_unknown_version(store: SagaStore) -> None:
    await store.add_definition(definition("checkout", 1))

    with pytest.raises(SagaNotFound):
        await store.get_definition("refund")
    with pytest.raises(SagaNotFound):
        await store.get_definition("refund", 1)
    with pytest.raises(SagaVersionNotFound) as raised:
        await store.get_definition("checkout", 2)
    assert (raised.value.name, raised.value.version) == ("checkout", 2)
    with pytest.raises(SagaNotFound):
        await store.list_versions("refund", limit=10)


async def _walk_definitions(store: SagaStore, limit: int) -> list[StoredDefinition]:
    seen: list[StoredDefinition] = []
    cursor: str | None = None
    while True:
        page = await store.list_definitions(limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        seen.extend(page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_list_definitions_pages_the_latest_of_each_saga_by_name(store: SagaStore) -> None:
    # Punctuation orders differently under a natural-language collation than bytewise.
    names = ["order.checkout", "order-checkout", "order_checkout", "orderx", "a", "b-2", "b.1", "zz"]
    for i, name in enumerate(names):
        for version in range(1, 1 + i % 3 + 1):
            await store.add_definition(definition(name, version, steps=version))

    for limit in (1, 3, 8, 50):
        listed = await _walk_definitions(store, limit)
        assert [d.name for d in listed] == sorted(names)
        assert [d.version for d in listed] == [1 + names.index(d.name) % 3 for d in listed]


async def test_list_definitions_of_an_empty_store(store: SagaStore) -> None:
    page = await store.list_definitions(limit=5)

    assert page.items == []
    assert page.next_cursor is None


async def test_list_versions_newest_first_across_pages(store: SagaStore) -> None:
    for version in (1, 2, 3, 5, 8):
        await store.add_definition(definition("checkout", version, steps=version))
    await store.add_definition(definition("other", 9))

    first = await store.list_versions("checkout", limit=2)
    assert [d.version for d in first.items] == [8, 5]
    assert first.next_cursor is not None
    second = await store.list_versions("checkout", limit=2, cursor=first.next_cursor)
    assert [d.version for d in second.items] == [3, 2]
    assert second.next_cursor is not None
    last = await store.list_versions("checkout", limit=2, cursor=second.next_cursor)
    assert [d.version for d in last.items] == [1]
    assert last.next_cursor is None


async def test_an_exactly_full_page_has_no_next_cursor(store: SagaStore) -> None:
    for version in (1, 2):
        await store.add_definition(definition("checkout", version, steps=version))

    page = await store.list_versions("checkout", limit=2)

    assert len(page.items) == 2
    assert page.next_cursor is None
