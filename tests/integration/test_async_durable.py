"""Durable waiting (SPEC 7.3): a wait outlives the coordinator that began it, and a callback is
accepted by a replica that did not make the call (PostgreSQL), which then carries the saga on.
(SIGKILL and separate processes are the e2e suite's; here the runtimes share the test's loop.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi
from tests.integration.scripted_participant import ScriptedParticipant
from tests.integration.test_async_callbacks import callback_path, ended, setup, step, until, waiting
from tests.postgres import empty_postgres


@asynccontextmanager
async def coordinator(settings: Settings) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    runtime = await Runtime.open(settings)
    await runtime.start()
    try:
        async with (
            serve_asgi(create_app(settings, runtime=runtime)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as client,
        ):
            yield runtime, client
    finally:
        await runtime.close()


async def test_a_wait_survives_a_restart_its_callback_is_accepted_after(
    tmp_path: Path, participant: ScriptedParticipant
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", shutdown_grace_seconds=0)
    async with coordinator(settings) as (_, client):
        execution_id = await setup(client, participant, timeout="30s")
        await until(client, execution_id, waiting())
        path = callback_path(participant)
    async with coordinator(settings) as (_, client):
        assert step((await client.get(f"/v1/executions/{execution_id}")).json(), "charge")["status"] == "waiting"
        r = await client.post(path, json={"outcome": "succeeded", "body": {"charge_id": "after-restart"}})
        assert r.status_code == 202, r.text
        assert (await until(client, execution_id, ended))["status"] == "completed"
    assert participant.calls("/ship")[0].body == {"charge": "after-restart"}
    assert len(participant.calls("/charge")) == 1  # a wait is not a call in flight: nothing re-sent


async def test_a_wait_times_out_on_time_after_a_restart(tmp_path: Path, participant: ScriptedParticipant) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", shutdown_grace_seconds=0)
    async with coordinator(settings) as (_, client):
        execution_id = await setup(client, participant, timeout="1500ms")
        view = await until(client, execution_id, waiting())
    timeout_at = step(view, "charge")["waiting"]["timeout_at"]
    async with coordinator(settings) as (_, client):
        body = await until(client, execution_id, ended)
    assert body["status"] == "compensated" and "no callback" in body["error"]["message"]
    assert body["updated_at"] >= timeout_at  # not before its deadline
    assert len(participant.calls("/refund")) == 1


@pytest.mark.postgres
async def test_a_callback_to_the_replica_that_did_not_call_is_accepted_and_it_carries_on(
    postgres_url: str, participant: ScriptedParticipant
) -> None:
    empty_postgres(postgres_url)
    settings = Settings(database_url=postgres_url, sweep_seconds=0.5, lease_seconds=5, shutdown_grace_seconds=0)
    async with coordinator(settings) as (first, a), coordinator(settings) as (second, b):
        execution_id = await setup(a, participant, timeout="30s")
        await until(a, execution_id, waiting())
        caller = (await first.store.load_execution(execution_id)).owner
        r = await b.post(callback_path(participant), json={"outcome": "succeeded", "body": {"charge_id": "on-b"}})
        assert r.status_code == 202, r.text
        begun = time.monotonic()
        assert (await until(b, execution_id, ended))["status"] == "completed"
        assert time.monotonic() - begun < 5  # carried on at once, not after a lease expired
        taker = (await second.store.load_execution(execution_id)).owner
        assert caller is not None and taker is not None and taker != caller  # the replica called back took it
    assert participant.calls("/ship")[0].body == {"charge": "on-b"}
    assert len(participant.calls("/ship")) == 1
