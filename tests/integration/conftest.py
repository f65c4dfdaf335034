"""Fixtures: a coordinator on SQLite and on PostgreSQL, its API over loopback, a scripted participant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi
from tests.integration.scripted_participant import ScriptedParticipant, serve_participant
from tests.postgres import empty_postgres


@pytest.fixture
async def participant() -> AsyncIterator[ScriptedParticipant]:
    async with serve_participant() as p:
        yield p


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The coordinator's settings, once on a fresh SQLite file and once on an emptied PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'saga.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        empty_postgres(url)
    return Settings(database_url=url, max_body_bytes=64 * 1024)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.close()


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """The API over real loopback HTTP, served in the test's event loop next to the engine."""
    async with (
        serve_asgi(create_app(settings, runtime=runtime)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as c,
    ):
        yield c
