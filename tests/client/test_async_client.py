"""AsyncSagaClient against the real API: every call, the error mapping, pagination and waits."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import yaml

from coordinator.client import (
    AsyncSagaClient,
    BadRequest,
    DefinitionConflict,
    DefinitionInvalid,
    ExecutionInputInvalid,
    ExecutionNotFound,
    ExecutionStateConflict,
    ExecutionStatus,
    IdempotencyConflict,
    InvalidInput,
    PayloadTooLarge,
    SagaCompensated,
    SagaFailed,
    SagaNotFound,
    SagaVersionNotFound,
    WaitTimeout,
)
from tests.client.conftest import MAX_WAIT_S, Coordinator
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant

pytestmark = pytest.mark.asyncio(loop_scope="module")


class CountingTransport(httpx.AsyncBaseTransport):
    """The real transport, recording every request sent through it."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- definitions -----------------------------------------------------------------------------


async def test_register_a_mapping_and_files_then_read_them_back(
    coordinator: Coordinator, participant: ScriptedParticipant, tmp_path: Path, saga_name: str
) -> None:
    name = saga_name
    doc = three_steps(participant.url, name=name)
    yaml_file = tmp_path / "trip.yaml"
    yaml_file.write_text(yaml.safe_dump({**doc, "description": "from YAML"}))
    json_file = tmp_path / "trip.json"
    json_file.write_text(json.dumps({**doc, "description": "from JSON"}))
    async with AsyncSagaClient(coordinator.url) as client:
        first = await client.register(doc)
        assert (first.name, first.version, first.created) == (name, 1, True)
        assert (await client.register(doc)).created is False  # the same body: unchanged
        assert (await client.register(yaml_file)).version == 2
        assert (await client.register(str(json_file))).version == 3
        latest = await client.get_saga(name)
        assert latest.version == 3 and latest.description == "from JSON" and latest.steps == ("a", "b", "c")
        assert (await client.get_saga(name, 2)).description == "from YAML"
        assert latest.definition["name"] == name and latest.created_at is not None
        with pytest.raises(SagaNotFound) as missing:
            await client.get_saga("nope")
        assert missing.value.status == 404 and missing.value.code == "saga_not_found"
        with pytest.raises(SagaVersionNotFound):
            await client.get_saga(name, 9)
        with pytest.raises(DefinitionConflict) as clash:
            await client.register({**doc, "version": 1, "description": "another body"})
        assert clash.value.status == 409


async def test_an_invalid_definition_carries_every_problem(coordinator: Coordinator, tmp_path: Path) -> None:
    bad = {"name": "Bad Name", "steps": [{"name": "a", "action": {"method": "POST", "url": "not a url"}}]}
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    async with AsyncSagaClient(coordinator.url) as client:
        with pytest.raises(DefinitionInvalid) as invalid:
            await client.register(bad)
        paths = {p.path for p in invalid.value.problems}
        assert "name" in paths and any(p.startswith("steps[0].action.url") for p in paths)
        assert invalid.value.status == 422 and invalid.value.detail
        with pytest.raises(DefinitionInvalid) as unparsable:
            await client.register(broken)  # sent as application/yaml: the server's YAML error
        assert unparsable.value.problems and "line" in str(unparsable.value.problems[0]).lower()


async def test_list_sagas_walks_every_page(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    names = [f"{saga_name}-{i}" for i in range(3)]
    async with AsyncSagaClient(coordinator.url) as client:
        for name in names:
            await client.register(three_steps(participant.url, name=name))
        assert [s.name async for s in client.list_sagas(page_size=2) if s.name in names] == names
        assert len([s async for s in client.list_sagas(limit=2)]) == 2


# -- executions ------------------------------------------------------------------------------


async def test_start_wait_and_read_an_execution(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    participant.on("/c", Reply(status=201, body={"booked": "c-1"}))
    async with AsyncSagaClient(coordinator.url) as client:
        await client.register(three_steps(participant.url, name=name))
        handle = await client.start(name, {"order": "o-1"})
        assert handle.created and handle.execution.saga == name
        done = await handle.wait(timeout=10)
        assert done.status is ExecutionStatus.COMPLETED and done.succeeded and done.is_terminal
        assert [s.status for s in done.steps] == ["succeeded"] * 3 and done.step("b").attempts == 1
        assert done.input == {"order": "o-1"} and done.trace_id and done.error is None
        assert (await handle.result()) == done.output == {"booked": "c-1"}  # the last step's answer
        assert (await client.get(handle.id)) == done
        assert (await handle.refresh()).status == "completed"
        types = [e.type async for e in handle.events()]
        assert types[0] == "execution_started" and types[-1] == "execution_completed"
        with pytest.raises(ExecutionNotFound):
            await client.get("no-such-id")
        with pytest.raises(ExecutionNotFound):
            await client.wait("no-such-id", timeout=1)


async def test_start_errors_are_typed(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    async with AsyncSagaClient(coordinator.url) as client:
        await client.register(three_steps(participant.url, name=name))
        with pytest.raises(SagaNotFound):
            await client.start("nope", {})
        with pytest.raises(SagaVersionNotFound):
            await client.start(name, {"order": "o"}, version=7)
        with pytest.raises(ExecutionInputInvalid) as invalid:
            await client.start(name, {"order": 42})
        assert invalid.value.problems and invalid.value.problems[0].path.startswith("input")
        with pytest.raises(InvalidInput) as bad_key:
            await client.start(name, {"order": "o"}, idempotency_key="has spaces")
        assert bad_key.value.code == "invalid_input"


async def test_an_idempotency_key_returns_the_same_execution(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    async with AsyncSagaClient(coordinator.url) as client:
        await client.register(three_steps(participant.url, name=name))
        first = await client.start(name, {"order": "o-1"}, idempotency_key=f"{name}-1", wait=5)
        again = await client.start(name, {"order": "o-1"}, idempotency_key=f"{name}-1")
        assert first.created and not again.created and again.id == first.id
        assert first.execution.is_terminal  # `wait=` on the start held it until the end
        with pytest.raises(IdempotencyConflict):
            await client.start(name, {"order": "o-2"}, idempotency_key=f"{name}-1")


async def test_result_raises_when_the_saga_is_rolled_back(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    participant.on("/b", Reply(status=402, body={"error": "declined"}))
    async with AsyncSagaClient(coordinator.url) as client:
        await client.register(three_steps(participant.url, name=name))
        handle = await client.start(name, {"order": "o-1"})
        with pytest.raises(SagaCompensated) as rolled_back:
            await handle.result(timeout=10)
        execution = rolled_back.value.execution
        assert execution.status == "compensated" and execution.error is not None and execution.error.step == "b"
        assert [s.status for s in execution.steps] == ["compensated", "failed", "skipped"]
        with pytest.raises(SagaCompensated):
            await client.result(handle.id)
        with pytest.raises(ExecutionStateConflict):
            await client.retry(handle.id)  # only a failed execution can be retried


async def test_a_failed_compensation_then_an_operator_retry(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    participant.on("/b", Reply(status=402))
    participant.on("/a/undo", Reply(status=500))
    async with AsyncSagaClient(coordinator.url) as client:
        await client.register(three_steps(participant.url, name=name))
        handle = await client.start(name, {"order": "o-1"})
        with pytest.raises(SagaFailed) as failed:
            await handle.result(timeout=10)
        assert failed.value.execution.step("a").status == "compensation_failed"
        participant.script["/a/undo"].clear()  # the cause is fixed: the undo now succeeds
        retried = await client.retry(handle.id)
        assert retried.status in ("compensating", "compensated")
        assert (await client.wait(handle.id, timeout=10)).status == "compensated"


async def test_cancel_rolls_back_and_a_second_cancel_conflicts(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    participant.on("/b", Reply(status=201, delay_s=0.4))
    async with AsyncSagaClient(coordinator.url) as client:
        await client.register(three_steps(participant.url, name=name))
        handle = await client.start(name, {"order": "o-1"})
        cancelled = await handle.cancel()
        assert cancelled.cancel_requested and handle.execution is cancelled
        assert (await handle.wait(timeout=10)).status == "compensated"
        with pytest.raises(ExecutionStateConflict) as conflict:
            await client.cancel(handle.id)
        assert conflict.value.status == 409 and "cancel" in conflict.value.detail


async def test_list_and_events_iterate_every_page(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    participant.on("/other/c", Reply(status=409))
    async with AsyncSagaClient(coordinator.url) as client:
        await client.register(three_steps(participant.url, name=name))
        other = f"{name}-other"
        await client.register(three_steps(f"{participant.url}/other", name=other))
        ids = [(await client.start(name, {"order": f"o-{i}"}, wait=5)).id for i in range(5)]
        await client.start(other, {"order": "x"}, wait=5)
        listed = [e.id async for e in client.list(saga=name, page_size=2)]
        assert listed == list(reversed(ids))  # newest first, across three pages
        assert len([e async for e in client.list() if e.saga in (name, other)]) == 6
        assert [e.id async for e in client.list(saga=name, limit=3)] == listed[:3]
        compensated = [e.saga async for e in client.list(status=ExecutionStatus.COMPENSATED)]
        assert other in compensated and name not in compensated
        first = await client.list_page(saga=name, page_size=2)
        assert len(first.items) == 2 and first.next_cursor is not None
        second = await client.list_page(saga=name, page_size=2, cursor=first.next_cursor)
        assert [e.id for e in second.items] == listed[2:4]

        whole = [e async for e in client.events(ids[0])]
        paged = [e async for e in client.events(ids[0], page_size=3)]
        assert paged == whole and [e.seq for e in whole] == sorted(e.seq for e in whole)
        attempt = next(e for e in whole if e.type == "attempt_succeeded")
        assert attempt.step == "a" and attempt.direction == "action" and attempt.status_code == 200
        assert attempt.attempt == 1 and attempt.duration_ms is not None and attempt.at is not None
        page = await client.events_page(ids[0], page_size=2)
        assert len(page.items) == 2 and page.next_cursor is not None
        with pytest.raises(BadRequest) as bad:
            await client.list_page(page_size=0)
        assert bad.value.code == "bad_request"
        with pytest.raises(InvalidInput):
            await client.events_page(ids[0], cursor="not-a-cursor")


# -- waiting ---------------------------------------------------------------------------------


async def test_a_long_wait_is_a_few_long_polls_not_a_busy_poll(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    participant.on("/b", Reply(status=201, delay_s=1.2))
    transport = CountingTransport()
    async with AsyncSagaClient(coordinator.url, transport=transport) as client:
        await client.register(three_steps(participant.url, name=name, timeout="5s"))
        handle = await client.start(name, {"order": "o-1"})
        started = time.monotonic()
        done = await handle.wait()  # no timeout: as long as it takes
        took = time.monotonic() - started
    assert done.status == "completed" and took >= 1.0
    polls = [r for r in transport.requests if r.method == "GET"]
    # The server holds each request up to MAX_WAIT_S (0.5 s): about three polls for ~1.2 s, not hundreds.
    assert 2 <= len(polls) <= took / MAX_WAIT_S + 2
    assert all("wait=" in str(r.url) for r in polls)


async def test_a_wait_with_a_timeout_returns_the_execution_as_it_stands(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    name = saga_name
    participant.on("/b", Reply(status=201, delay_s=0.8))
    async with AsyncSagaClient(coordinator.url) as client:
        await client.register(three_steps(participant.url, name=name))
        handle = await client.start(name, {"order": "o-1"}, wait=0.1)
        assert handle.status == "running"
        started = time.monotonic()
        assert (await handle.wait(timeout=0.3)).status == "running"
        assert 0.25 <= time.monotonic() - started < 0.6
        with pytest.raises(WaitTimeout) as timed_out:
            await handle.result(timeout=0.1)
        assert isinstance(timed_out.value, TimeoutError) and timed_out.value.execution.status == "running"
        assert (await handle.result(timeout=10)) == {"ok": True} and handle.status == "completed"


async def test_a_body_over_the_limit_is_payload_too_large(coordinator: Coordinator) -> None:
    huge = {"name": "big", "description": "x" * (coordinator.settings.max_body_bytes + 10), "steps": []}
    async with AsyncSagaClient(coordinator.url) as client:
        with pytest.raises(PayloadTooLarge) as too_large:
            await client.register(huge)
    assert too_large.value.status == 413 and too_large.value.code == "body_too_large"
