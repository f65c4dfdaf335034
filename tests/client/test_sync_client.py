"""SagaClient (blocking) against the real API, run in a worker thread while the loop serves it;
and bearer tokens against a coordinator that requires them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from coordinator.client import (
    AsyncSagaClient,
    ExecutionNotFound,
    ExecutionStateConflict,
    SagaClient,
    SagaCompensated,
    SagaFailed,
    Unauthorized,
    Unreachable,
)
from coordinator.settings import Settings
from tests.client.conftest import TOKEN, Coordinator, running_coordinator
from tests.e2e.harness import free_port
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_every_call_of_the_blocking_client(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str, tmp_path: Path
) -> None:
    definition = tmp_path / "saga.yml"
    definition.write_text(yaml.safe_dump(three_steps(participant.url, name=saga_name)))
    participant.on("/c", Reply(status=201, body={"shipped": True}), Reply(status=409))  # the second rolls back

    def scenario() -> None:
        with SagaClient(coordinator.url) as client:
            assert client.register(definition).created
            assert client.get_saga(saga_name).steps == ("a", "b", "c")
            assert client.get_saga(saga_name, 1).version == 1
            assert saga_name in [s.name for s in client.list_sagas()]

            handle = client.start(saga_name, {"order": "o-1"}, idempotency_key=f"{saga_name}-1")
            assert handle.created and repr(handle).startswith("<ExecutionHandle")
            assert handle.result(timeout=10) == {"shipped": True} and handle.execution.succeeded  # what c answered
            assert handle.wait() is handle.execution and handle.refresh().status == "completed"
            assert [e.type for e in handle.events()][-1] == "execution_completed"
            assert not client.start(saga_name, {"order": "o-1"}, idempotency_key=f"{saga_name}-1").created

            second = client.start(saga_name, {"order": "o-2"}, wait=10)
            assert second.status == "compensated"
            with pytest.raises(SagaCompensated):
                client.result(second.id, timeout=5)
            assert client.wait(second.id).error is not None
            assert client.get(second.id).step("c").status == "failed"

            ids = [e.id for e in client.list(saga=saga_name, page_size=1)]
            assert ids == [second.id, handle.id]
            assert [e.id for e in client.list(saga=saga_name, status="compensated")] == [second.id]
            page = client.list_page(saga=saga_name, page_size=1)
            assert [e.id for e in page.items] == [second.id] and page.next_cursor
            assert [e.seq for e in client.events(handle.id, page_size=2)] == [e.seq for e in handle.events()]
            assert len(client.events_page(handle.id, page_size=2).items) == 2

            with pytest.raises(ExecutionStateConflict):
                client.cancel(second.id)
            with pytest.raises(ExecutionStateConflict):
                handle.cancel()
            with pytest.raises(ExecutionNotFound):
                client.get("missing")

    await asyncio.to_thread(scenario)


async def test_cancel_and_retry_with_the_blocking_client(
    coordinator: Coordinator, participant: ScriptedParticipant, saga_name: str
) -> None:
    participant.on("/b", Reply(status=201, delay_s=0.3))
    participant.on("/a/undo", Reply(status=500))

    def scenario() -> None:
        with SagaClient(coordinator.url) as client:
            client.register(three_steps(participant.url, name=saga_name))
            handle = client.start(saga_name, {"order": "o-1"})
            assert handle.cancel().cancel_requested
            with pytest.raises(SagaFailed) as failed:
                handle.result(timeout=10)  # a's undo keeps failing
            assert failed.value.execution.error is not None and failed.value.execution.error.step == "a"
            participant.script["/a/undo"].clear()
            assert client.retry(handle.id).id == handle.id
            assert client.wait(handle.id, timeout=10).status == "compensated"

    await asyncio.to_thread(scenario)


async def test_a_coordinator_that_is_not_there_is_unreachable() -> None:
    def scenario() -> None:
        with SagaClient(f"http://127.0.0.1:{free_port()}", retries=1) as client, pytest.raises(Unreachable):
            client.get("x")

    await asyncio.to_thread(scenario)
    async with AsyncSagaClient(f"http://127.0.0.1:{free_port()}", retries=0) as client:
        with pytest.raises(Unreachable, match="failed"):
            await client.list_page()


async def test_tokens_from_arguments_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(database_url="memory://", api_tokens=(TOKEN,))
    async with running_coordinator(settings) as secured:
        async with AsyncSagaClient(secured.url) as anonymous:
            with pytest.raises(Unauthorized) as refused:
                await anonymous.list_page()
            assert refused.value.status == 401 and refused.value.code == "unauthorized"
        async with AsyncSagaClient(secured.url, token="wrong") as wrong:
            with pytest.raises(Unauthorized):
                await wrong.get("x")
        async with AsyncSagaClient(secured.url, token=TOKEN) as client:
            assert (await client.list_page()).items == ()
        monkeypatch.setenv("SAGA_URL", secured.url)
        monkeypatch.setenv("SAGA_TOKEN", TOKEN)
        async with AsyncSagaClient() as from_env:
            with pytest.raises(ExecutionNotFound):  # authenticated: the id is what is wrong
                await from_env.get("x")
