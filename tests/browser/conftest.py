"""A coordinator with its console and a scripted participant, served from a thread; and Debian's chromium.

The browser tests are synchronous (Playwright's sync API runs its own loop), so the servers live in
a thread with their own event loop. Under CI=true a missing chromium fails the run instead of
skipping it: `.ci/run` installs it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi
from tests.integration.scripted_participant import ScriptedParticipant, serve_participant

CHROMIUM = Path("/usr/bin/chromium")
ADMIN_TOKEN = "admin-token-for-the-console"
READER_TOKEN = "reader-token-for-the-console"
TRACE_URL = "http://jaeger.example:16686/trace/{trace_id}"
SHOTS = Path(os.environ.get("SAGA_SCREENSHOTS", "")) if os.environ.get("SAGA_SCREENSHOTS") else None
"""Where the tests save their screenshots besides the test's tmp dir (to copy into docs/console/)."""

pytestmark = pytest.mark.browser


def _chromium_or_skip() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail("Debian's chromium is missing at /usr/bin/chromium: .ci/run installs it (apt-get install chromium)")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


@dataclass
class ConsoleServer:
    """The coordinator (API and console) and the participant its sagas call, both on loopback."""

    url: str
    participant: ScriptedParticipant
    api: httpx.Client
    """The API with the admin token, to register sagas and start executions."""

    def register(self, definition: dict[str, Any]) -> None:
        response = self.api.post("/v1/sagas", json=definition)
        assert response.status_code in (200, 201), response.text

    def start(self, saga: str, input_: Any, *, wait: str | None = None) -> dict[str, Any]:
        query = f"?wait={wait}" if wait else ""
        response = self.api.post(f"/v1/sagas/{saga}/executions{query}", json={"input": input_})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """One coordinator for the browser tests, on SQLite, with an admin and a read-only token."""
    database = tmp_path_factory.mktemp("console") / "saga.db"
    settings = Settings(
        database_url=f"sqlite:///{database}",
        api_tokens=(ADMIN_TOKEN, f"{READER_TOKEN}:executions:read"),
        trace_url=TRACE_URL,
    )
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    found: dict[str, Any] = {}
    failure: list[BaseException] = []

    async def serve() -> None:
        runtime = await Runtime.open(settings)
        await runtime.start()
        try:
            async with serve_participant() as participant, serve_asgi(create_app(settings, runtime=runtime)) as url:
                found.update(url=url, participant=participant)
                stop.append(asyncio.Event())
                ready.set()
                await stop[0].wait()
        finally:
            await runtime.close()

    loop_holder: list[asyncio.AbstractEventLoop] = []

    def run_and_keep_loop() -> None:
        loop = asyncio.new_event_loop()
        loop_holder.append(loop)
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        except BaseException as error:
            failure.append(error)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run_and_keep_loop, name="console-server", daemon=True)
    thread.start()
    assert ready.wait(30), "the coordinator did not start"
    if failure:
        raise failure[0]
    with httpx.Client(base_url=found["url"], headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as api:
        yield ConsoleServer(url=found["url"], participant=found["participant"], api=api)
    loop_holder[0].call_soon_threadsafe(stop[0].set)
    thread.join(30)


@pytest.fixture(scope="module")
def browser_instance() -> Iterator[Any]:
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where this test saves its screenshots."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


def save_shot(page: Any, folder: Path, name: str) -> Path:
    """A full-page screenshot into `folder` (and into $SAGA_SCREENSHOTS when set)."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHOTS / path.name)
    return path
