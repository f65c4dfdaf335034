"""Leases: who drives an execution, takeover of expired leases, and fencing of stale owners."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from coordinator.core.state import ExecutionStatus
from coordinator.errors import Fenced, StaleRevision
from coordinator.ports import Lease, SagaStore

from .factories import T0, event, plain_state, record

LONG = 60_000


async def test_a_created_execution_is_leased_to_its_creator(store: SagaStore) -> None:
    stored, _ = await store.create_execution(record(plain_state("e1")), (), owner="a", lease_ms=LONG)
    loaded = await store.load_execution("e1")
    assert (stored.owner, stored.epoch) == ("a", 1) and (loaded.owner, loaded.epoch) == ("a", 1)
    assert await store.claim("b", lease_ms=LONG, limit=10) == []  # a live lease is not claimable


async def test_expired_leases_are_claimed_with_a_new_epoch_and_fence_the_old_owner(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("e1")), (), owner="a", lease_ms=0)
    await asyncio.sleep(0.01)
    [claim] = await store.claim("b", lease_ms=LONG, limit=10)
    assert (claim.execution_id, claim.epoch) == ("e1", 2)
    state = (await store.load_execution("e1")).state
    with pytest.raises(Fenced):
        await store.commit(state, (event(),), expected_revision=state.revision, lease=Lease(owner="a", epoch=1))
    assert (await store.list_events("e1", limit=10)).items == []  # the fenced write left nothing
    committed = await store.commit(state, (event(),), expected_revision=state.revision, lease=Lease(owner="b", epoch=2))
    assert committed.revision == state.revision + 1
    loaded = await store.load_execution("e1")
    assert (loaded.owner, loaded.epoch) == ("b", 2)


async def test_a_stale_revision_is_not_reported_as_fencing(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("e1")), (), owner="a", lease_ms=LONG)
    state = (await store.load_execution("e1")).state
    await store.commit(state, (), expected_revision=state.revision, lease=Lease(owner="a", epoch=1))
    with pytest.raises(StaleRevision) as raised:
        await store.commit(state, (), expected_revision=state.revision, lease=Lease(owner="a", epoch=1))
    assert not isinstance(raised.value, Fenced)


async def test_claims_skip_terminal_quarantined_and_live_executions(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("live")), (), owner="a", lease_ms=LONG)
    await store.create_execution(record(plain_state("free")), ())
    await store.create_execution(record(plain_state("done", status=ExecutionStatus.COMPLETED)), ())
    await store.create_execution(record(plain_state("poison")), ())
    await store.quarantine("poison", "crashed the coordinator 5 times", now_ms=T0)
    claimed = await store.claim("b", lease_ms=LONG, limit=10)
    assert [c.execution_id for c in claimed] == ["free"]
    assert (await store.load_execution("poison")).quarantined == "crashed the coordinator 5 times"
    await store.unquarantine("poison")
    assert [c.execution_id for c in await store.claim("b", lease_ms=LONG, limit=10)] == ["poison"]
    forced = await store.claim("c", lease_ms=LONG, limit=10, ids=["live"], force=True)
    assert [(c.execution_id, c.epoch) for c in forced] == [("live", 2)]


async def test_concurrent_claimers_never_share_an_execution(store: SagaStore) -> None:
    for i in range(30):
        await store.create_execution(record(plain_state(f"e{i:02}", created_at_ms=1000 + i)), ())
    results = await asyncio.gather(*(store.claim(f"r{n}", lease_ms=LONG, limit=7) for n in range(6)))
    ids = [c.execution_id for claims in results for c in claims]
    assert len(ids) == len(set(ids)) == 30


async def test_renew_keeps_leases_and_release_gives_them_up(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("e1")), (), owner="a", lease_ms=50)
    await store.create_execution(record(plain_state("e2", status=ExecutionStatus.COMPLETED)), (), owner="a")
    assert await store.renew("a", lease_ms=LONG) == 1
    await asyncio.sleep(0.1)
    assert await store.claim("b", lease_ms=LONG, limit=10) == []
    assert await store.release("a") == 1
    assert [c.execution_id for c in await store.claim("b", lease_ms=LONG, limit=10)] == ["e1"]


async def test_recovery_counts_grow_until_progress_or_renewal(store: SagaStore) -> None:
    await store.create_execution(record(plain_state("e1")), ())
    assert [await store.note_recovery("e1") for _ in range(3)] == [1, 2, 3]
    [claim] = await store.claim("r1", lease_ms=LONG, limit=1)
    assert claim.recovery_attempts == 3  # the claimer learns it is a suspect
    state = (await store.load_execution("e1")).state
    await store.commit(state, (event(),), expected_revision=state.revision, lease=Lease(owner="r1", epoch=claim.epoch))
    assert await store.note_recovery("e1") == 1  # progress reset it
    await store.renew("r1", lease_ms=LONG)
    assert await store.note_recovery("e1") == 1  # so does surviving a renewal


async def test_a_batch_resumption_counts_and_loads_each_claimed_execution(store: SagaStore) -> None:
    for i in range(3):
        await store.create_execution(record(plain_state(f"e{i}", created_at_ms=1000 + i)), ())
    await store.note_recovery("e1")
    claims = await store.claim("r1", lease_ms=LONG, limit=10)
    found = await store.begin_resumption(["e2", "gone", "e0", "e1"])
    assert [(r.record.state.id, r.attempts) for r in found] == [("e2", 1), ("e0", 1), ("e1", 2)]
    epochs = {c.execution_id: c.epoch for c in claims}
    for resumed in found:
        loaded = await store.load_execution(resumed.record.state.id)
        assert resumed.record == loaded and (loaded.owner, loaded.epoch) == ("r1", epochs[loaded.state.id])
    # The loaded record commits under the claim's lease, with its history numbered after the stored one.
    e0 = found[1].record
    await store.commit(
        e0.state,
        (event(), event()),
        expected_revision=e0.state.revision,
        previous=e0.state,
        lease=Lease(owner="r1", epoch=e0.epoch),
    )
    assert [e.seq for e in (await store.list_events("e0", limit=10)).items] == [1, 2]
    assert await store.begin_resumption([]) == []


async def test_one_process_per_sqlite_file(tmp_path: Path) -> None:
    from coordinator.errors import DatabaseInUse
    from coordinator.store import open_store

    url = f"sqlite:///{tmp_path / 'one.db'}"
    first = await open_store(url)
    with pytest.raises(DatabaseInUse, match="use PostgreSQL"):
        await open_store(url)
    await first.close()
    second = await open_store(url)  # the lock goes with the store
    await second.close()


async def test_a_process_never_takes_over_its_own_lapsed_lease(store: SagaStore) -> None:
    # A slow renewal must not turn into a "takeover" that re-sends a call still in flight.
    await store.create_execution(record(plain_state("e1")), (), owner="a", lease_ms=0)
    await asyncio.sleep(0.01)
    assert await store.claim("a", lease_ms=LONG, limit=10) == []
    assert await store.renew("a", lease_ms=LONG) == 1  # it renews instead
    assert await store.claim("b", lease_ms=LONG, limit=10) == []


async def test_a_forced_claim_takes_live_leases_of_others_but_never_ours(store: SagaStore) -> None:
    # Recovery at start (SQLite) forces claims while the API already starts executions of ours:
    # re-claiming one of those would resume it beside the call it has in flight.
    await store.create_execution(record(plain_state("theirs")), (), owner="gone", lease_ms=LONG)
    await store.create_execution(record(plain_state("mine")), (), owner="me", lease_ms=LONG)
    forced = await store.claim("me", lease_ms=LONG, limit=10, force=True)
    assert [(c.execution_id, c.epoch) for c in forced] == [("theirs", 2)]
    assert await store.claim("me", lease_ms=LONG, limit=10, ids=["mine"], force=True) == []
    assert ((await store.load_execution("mine")).owner, (await store.load_execution("mine")).epoch) == ("me", 1)
