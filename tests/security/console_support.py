"""A served coordinator with its console, and a cookie-keeping client that logs in like a browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant, serve_participant

ADMIN = "console-admin-token"
READER = "console-reader-token"
SCRIPT = "<script>alert('owned')</script>"


@dataclass
class ServedConsole:
    """The coordinator's address, the participant its sagas call, and the API with the admin token."""

    url: str
    participant: ScriptedParticipant
    api: httpx.AsyncClient


@asynccontextmanager
async def serve_console(tmp_path: Path) -> AsyncIterator[ServedConsole]:
    """A coordinator on SQLite with an admin token and a read-only one, and a scripted participant."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'saga.db'}", api_tokens=(ADMIN, f"{READER}:executions:read")
    )
    runtime = await Runtime.open(settings)
    await runtime.start()
    try:
        async with (
            serve_participant() as participant,
            serve_asgi(create_app(settings, runtime=runtime)) as url,
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30) as api,
        ):
            yield ServedConsole(url, participant, api)
    finally:
        await runtime.close()


@asynccontextmanager
async def logged_in(served: ServedConsole, token: str | None, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client, logged in with `token` through the form (None: not logged in)."""
    async with httpx.AsyncClient(base_url=served.url, timeout=30, headers=headers) as client:
        if token is not None:
            form = await client.get("/ui/login")
            response = await client.post("/ui/login", data={"token": token, "csrf": csrf_of(form.text), "next": "/ui"})
            assert response.status_code == 303, response.text
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token of the page's forms."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def failed_execution(served: ServedConsole) -> str:
    """An execution left `failed`: b refused, a's compensation keeps failing."""
    served.participant.on("/b", Reply(400, {"error": "no"}))
    served.participant.on("/a/undo", Reply(500, {"error": "down"}))
    await served.api.post("/v1/sagas", json=three_steps(served.participant.url))
    response = await served.api.post("/v1/sagas/trip/executions?wait=10s", json={"input": {"order": "o-1"}})
    assert response.json()["status"] == "failed"
    return str(response.json()["id"])


async def status_of(served: ServedConsole, execution_id: str) -> str:
    """An execution's status, through the API."""
    return str((await served.api.get(f"/v1/executions/{execution_id}")).json()["status"])
