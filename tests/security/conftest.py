"""Fixtures for the hostile-input tests: a canary that counts connections, a served coordinator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator.api import create_app
from coordinator.ports import StepExecutor
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.telemetry import Telemetry
from saga_examples.serve import serve_asgi
from tests.integration.scripted_participant import ScriptedParticipant, serve_participant
from tests.security.console_support import ServedConsole, serve_console


class Canary:
    """A TCP server that must never be reached: it counts every connection and closes it."""

    def __init__(self) -> None:
        self.hits = 0
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        # Answer like a friendly server, so a client that got here would report success.
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()


@asynccontextmanager
async def serve_canary(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Canary]:
    canary = Canary()
    server = await asyncio.start_server(canary._accept, host, port)
    canary.host, canary.port = host, server.sockets[0].getsockname()[1]
    try:
        yield canary
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    async with serve_canary() as c:
        yield c


@pytest.fixture
async def participant() -> AsyncIterator[ScriptedParticipant]:
    async with serve_participant() as p:
        yield p


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'saga.db'}"


@dataclass
class Served:
    """A coordinator served over loopback, with a client for its API."""

    runtime: Runtime
    api: httpx.AsyncClient
    url: str


@asynccontextmanager
async def serve_coordinator(
    settings: Settings, *, executor: StepExecutor | None = None, telemetry: Telemetry | None = None
) -> AsyncIterator[Served]:
    runtime = await Runtime.open(settings, executor=executor, telemetry=telemetry)
    await runtime.start()
    try:
        async with (
            serve_asgi(create_app(settings, runtime=runtime)) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as api,
        ):
            yield Served(runtime, api, url)
    finally:
        await runtime.close()


def one_step(url: str, *, name: str = "probe", compensation: str | None = None, **action: Any) -> dict[str, Any]:
    """A saga with one step calling `url` (and optionally compensating at `compensation`)."""
    step: dict[str, Any] = {
        "name": "call",
        "action": {"method": "POST", "url": url, "timeout": "2s", **action},
        "retry": {"max_attempts": 3, "initial_interval": "10ms", "jitter": "none"},
    }
    if compensation is not None:
        step["compensation"] = {"method": "POST", "url": compensation}
    return {"name": name, "steps": [step]}


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[ServedConsole]:
    """The console's coordinator (see `console_support.serve_console`)."""
    async with serve_console(tmp_path) as console:
        yield console
