"""Recovery at start, in process: what a restarted coordinator does with the executions it finds."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from coordinator.errors import StoreUnavailable
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", sweep_seconds=0.2, shutdown_grace_seconds=0)


async def _left_in_flight(settings: Settings, participant: ScriptedParticipant, count: int) -> list[str]:
    """`count` executions whose call to b is in flight when their coordinator stops (like a crash)."""
    participant.on("/b", Reply(status=200, delay_s=30))
    first = await Runtime.open(settings)
    await first.start()
    await first.service.register(three_steps(participant.url))
    ids = [(await first.service.start("trip", {"order": f"o{i}"}))[0].state.id for i in range(count)]
    for _ in range(250):
        if len(participant.calls("/b")) == count:
            break
        await asyncio.sleep(0.02)
    await first.close()
    participant.script["/b"].clear()
    return ids


async def test_an_execution_whose_resumption_hit_a_database_error_is_driven_by_the_next_sweep(
    settings: Settings, participant: ScriptedParticipant
) -> None:
    [execution_id] = await _left_in_flight(settings, participant, 1)
    second = await Runtime.open(settings)
    note_recovery = second.store.note_recovery
    failures = [StoreUnavailable("database unavailable: a blip")]

    async def flaky(execution_id: str) -> int:
        if failures:
            raise failures.pop()
        return await note_recovery(execution_id)

    second.store.note_recovery = flaky  # type: ignore[method-assign]
    await second.start()
    try:
        done = await second.service.wait_terminal(execution_id, 10)
    finally:
        await second.close()
    # Claimed by the recovery, then left stalled by the blip: our own lease never expires, so only
    # the sweep's re-drive can finish it.
    assert not failures and done.state.status.value == "completed"
    assert len(participant.calls("/c")) == 1


async def test_many_executions_resume_concurrently_each_call_sent_once(
    settings: Settings, participant: ScriptedParticipant
) -> None:
    ids = await _left_in_flight(replace(settings, outbound_connections=50), participant, 40)
    second = await Runtime.open(settings)
    await second.start()
    try:
        done = await asyncio.gather(*(second.service.wait_terminal(i, 20) for i in ids))
    finally:
        await second.close()
    assert {d.state.status.value for d in done} == {"completed"}
    resent = [c.headers["idempotency-key"] for c in participant.calls("/b")]
    assert len(resent) == 2 * len(ids) and len(set(resent)) == len(ids)  # before the stop, and once after
    assert len(participant.calls("/c")) == len(ids)


async def test_a_start_whose_commit_answer_was_lost_is_driven_by_the_next_sweep(
    settings: Settings, participant: ScriptedParticipant
) -> None:
    """Found by the soak (bench/soak.py): PostgreSQL's connections were reset just as a start
    committed. The start answered 503, the client re-sent it and got the stored execution back, but
    nothing drove it: it was leased to this process, whose renewals kept the lease alive, so no claim
    would ever take it (it moved 40 s later only because a renewal happened to fail)."""
    runtime = await Runtime.open(settings)
    create = runtime.store.create_execution
    lost: list[str] = []

    async def commit_then_lose_the_answer(*args: Any, **kwargs: Any) -> Any:
        stored = await create(*args, **kwargs)
        if not lost:
            lost.append(stored[0].state.id)
            raise StoreUnavailable("database unavailable: server closed the connection unexpectedly")
        return stored

    runtime.store.create_execution = commit_then_lose_the_answer  # type: ignore[method-assign]
    await runtime.start()
    try:
        await runtime.service.register(three_steps(participant.url))
        with pytest.raises(StoreUnavailable):
            await runtime.service.start("trip", {"order": "o1"}, idempotency_key="order-1")
        again, created = await runtime.service.start("trip", {"order": "o1"}, idempotency_key="order-1")
        assert not created and [again.state.id] == lost
        done = await runtime.service.wait_terminal(again.state.id, 5)
    finally:
        await runtime.close()
    assert done.state.status.value == "completed"
    assert [len(participant.calls(f"/{step}")) for step in "abc"] == [1, 1, 1]


async def test_a_start_that_never_committed_leaves_nothing_to_drive(
    settings: Settings, participant: ScriptedParticipant, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = await Runtime.open(settings)

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("database unavailable: connection refused")

    runtime.store.create_execution = unreachable  # type: ignore[method-assign]
    await runtime.start()
    try:
        await runtime.service.register(three_steps(participant.url))
        with pytest.raises(StoreUnavailable):
            await runtime.service.start("trip", {"order": "o1"})
        await asyncio.sleep(5 * settings.sweep_seconds)  # several sweeps: each would re-drive a stalled id
    finally:
        await runtime.close()
    assert "still stalled" not in caplog.text and "could not" not in caplog.text
    assert participant.calls("/a") == []


async def test_an_outcome_whose_commit_answer_was_lost_does_not_strand_the_retry(
    settings: Settings, participant: ScriptedParticipant
) -> None:
    """Found by the soak (bench/soak.py, 30 minutes): a 503's outcome was committed with its retry's
    wake-up, but the answer was lost (the database deadline). The sweep re-drove the execution and
    re-armed the wake-up, but when it fired it was decided on the record remembered from before the
    commit, which had no wake-up: dropped as superseded, with no commit to reveal it. The execution
    stayed running until another replica took it over (145 s)."""
    participant.on("/a", Reply(status=503), Reply(status=200))
    runtime = await Runtime.open(settings)
    commit = runtime.store.commit
    lost: list[bool] = []

    async def commit_then_lose_the_first_answer(*args: Any, **kwargs: Any) -> Any:
        state = await commit(*args, **kwargs)
        if not lost:
            lost.append(True)
            raise StoreUnavailable("database unavailable: no answer within the 2 s deadline")
        return state

    await runtime.start()
    try:
        await runtime.service.register(
            three_steps(participant.url, retry={"max_attempts": 3, "initial_interval": "300ms", "jitter": "none"})
        )
        runtime.store.commit = commit_then_lose_the_first_answer  # type: ignore[method-assign]
        record, _ = await runtime.service.start("trip", {"order": "o1"})
        done = await runtime.service.wait_terminal(record.state.id, 8)
    finally:
        await runtime.close()
    assert lost and done.state.status.value == "completed", done.state
    assert [len(participant.calls(f"/{step}")) for step in "abc"] == [2, 1, 1]
