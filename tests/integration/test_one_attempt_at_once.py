"""SPEC section 3: "never two attempts of one step at the same time", also when the engine re-drives.

When the commit of one call's outcome fails (the database is unavailable for a moment), the
execution is stalled and the next sweep resumes it, re-sending the call whose outcome was never
recorded. A parallel group has other calls in flight in this same process at that moment: the
resumption must not send them a second time beside themselves. The participant is a real HTTP
server on loopback that records every request arriving while another with the same key runs.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.state import Direction
from coordinator.errors import StoreUnavailable
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from tests.integration.scripted_participant import Reply, ScriptedParticipant


def _member(url: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "action": {"method": "POST", "url": f"{url}/{name}", "timeout": "10s"},
        "compensation": {"method": "POST", "url": f"{url}/{name}/undo", "timeout": "10s"},
        "retry": {"max_attempts": 1},
        "compensation_retry": {"max_attempts": 3, "initial_interval": "10ms", "jitter": "none"},
    }


def _group_saga(url: str) -> dict[str, Any]:
    """A group of a fast member `a` and a slow member `b`, then `c` (which some tests make fail)."""
    return {
        "name": "pair",
        "steps": [
            {"parallel": {"name": "both", "steps": [_member(url, "a"), _member(url, "b")]}},
            {"name": "c", "action": {"method": "POST", "url": f"{url}/c"}, "retry": {"max_attempts": 1}},
        ],
    }


def _lose_commit_of(runtime: Runtime, step: str, direction: Direction) -> list[bool]:
    """Make the commit of `step`'s first successful outcome in `direction` fail, as a database that
    is unavailable for a moment does (nothing committed). Returns a list that is non-empty once it did."""
    commit = runtime.store.commit
    failed: list[bool] = []

    def is_target(event: HistoryEvent) -> bool:
        return event.type is HistoryEventType.ATTEMPT_SUCCEEDED and event.step == step and event.direction is direction

    async def flaky_commit(state: Any, history: tuple[HistoryEvent, ...], **kwargs: Any) -> Any:
        if not failed and any(is_target(e) for e in history):
            failed.append(True)
            raise StoreUnavailable("database unavailable: a blip")
        return await commit(state, history, **kwargs)

    runtime.store.commit = flaky_commit  # type: ignore[method-assign]
    return failed


async def _run(settings: Settings, participant: ScriptedParticipant, step: str, direction: Direction) -> Any:
    runtime = await Runtime.open(replace(settings, sweep_seconds=0.2))
    await runtime.start()
    try:
        await runtime.service.register(_group_saga(participant.url))
        failed = _lose_commit_of(runtime, step, direction)
        record, _ = await runtime.service.start("pair", {})
        done = await runtime.service.wait_terminal(record.state.id, 30)
    finally:
        await runtime.close()
    assert failed, "the outcome's commit was never attempted"
    return done


async def test_a_redriven_group_does_not_resend_a_sibling_call_still_in_flight(
    settings: Settings, participant: ScriptedParticipant
) -> None:
    participant.on("/b", Reply(status=200, delay_s=1.5))
    done = await _run(settings, participant, "a", Direction.ACTION)
    assert done.state.status.value == "completed", done.state
    assert participant.overlaps == []
    # `a`'s outcome was never recorded, so it is re-sent (same key, after the first ended); `b`'s
    # call was still on its way: it is sent once.
    assert len(participant.calls("/a")) == 2
    assert len(participant.calls("/b")) == 1


async def test_a_redriven_rollback_does_not_resend_a_sibling_compensation_still_in_flight(
    settings: Settings, participant: ScriptedParticipant
) -> None:
    participant.on("/c", Reply(status=409))
    participant.on("/b/undo", Reply(status=200, delay_s=1.5))
    done = await _run(settings, participant, "a", Direction.COMPENSATION)
    assert done.state.status.value == "compensated", done.state
    assert participant.overlaps == []
    assert len(participant.calls("/a/undo")) == 2
    assert len(participant.calls("/b/undo")) == 1


async def test_the_participant_sees_overlapping_attempts_of_one_key(participant: ScriptedParticipant) -> None:
    """The watch itself: two requests under one key at once are recorded (so the tests above can fail)."""
    import httpx

    participant.on("/slow", Reply(status=200, delay_s=0.3))
    async with httpx.AsyncClient(base_url=participant.url) as client:
        headers = {"Idempotency-Key": "e:s:action"}
        await asyncio.gather(client.post("/slow", headers=headers), client.post("/slow", headers=headers))
    assert participant.overlaps == ["e:s:action"]
