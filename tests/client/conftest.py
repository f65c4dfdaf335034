"""Fixtures: the coordinator's API served over loopback, and a scripted participant.

One coordinator (SQLite file, real engine, real HTTP) and one participant serve every test of a
module, in the module's event loop: stopping uvicorn costs ~0.2 s each time, which would dominate
these tests. Each test registers its sagas under its own name (`saga_name`) and starts from an
empty participant script.

The CLI and the blocking client run in a worker thread (`asyncio.to_thread`), so the event loop
keeps serving the coordinator while they wait for its answers.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi
from tests.integration.scripted_participant import ScriptedParticipant, serve_participant

MAX_WAIT_S = 0.5
"""The server's `?wait=` cap in these tests: short, so that a longer wait is several long polls."""

TOKEN = "s3cret-token"
"""The API token of the `secured` coordinator."""


@dataclass
class Coordinator:
    """A running coordinator: its base URL and its settings."""

    url: str
    settings: Settings


@contextlib.asynccontextmanager
async def running_coordinator(settings: Settings) -> AsyncIterator[Coordinator]:
    """The app and the engine, on a loopback port, until the block exits."""
    runtime = await Runtime.open(settings)
    await runtime.start()
    try:
        async with serve_asgi(create_app(settings, runtime=runtime)) as url:
            runtime.service.listening(url)  # callback URLs of async steps point at the port bound
            yield Coordinator(url=url, settings=settings)
    finally:
        await runtime.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def coordinator(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Coordinator]:
    """The module's coordinator, on a fresh SQLite file."""
    path: Path = tmp_path_factory.mktemp("coordinator") / "saga.db"
    settings = Settings(database_url=f"sqlite:///{path}", max_wait_seconds=MAX_WAIT_S, max_body_bytes=64 * 1024)
    async with running_coordinator(settings) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_participant() -> AsyncIterator[ScriptedParticipant]:
    async with serve_participant() as p:
        yield p


@pytest.fixture
def participant(shared_participant: ScriptedParticipant) -> Iterator[ScriptedParticipant]:
    """The module's participant with an empty script (every path answers 200) and no history."""
    shared_participant.script.clear()
    shared_participant.requests.clear()
    yield shared_participant
    shared_participant.script.clear()


@pytest.fixture
def saga_name(request: pytest.FixtureRequest) -> str:
    """A saga name of this test's own, e.g. `test-start-wait-and-read`."""
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:90]
