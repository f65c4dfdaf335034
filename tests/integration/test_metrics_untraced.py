"""`/metrics` of a coordinator that exports no traces: what an on-call alerts on is there all the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from coordinator import __version__
from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.telemetry import Telemetry
from saga_examples.serve import serve_asgi
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.integration.test_api import register, start


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API over loopback, with no trace exporter configured (the default)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", shutdown_grace_seconds=0.5)
    telemetry = Telemetry.from_env({}, service_version=__version__)
    assert not telemetry.tracing_enabled
    runtime = await Runtime.open(settings, telemetry=telemetry)
    await runtime.start()
    try:
        async with serve_asgi(create_app(settings, runtime=runtime)) as url, httpx.AsyncClient(base_url=url) as c:
            yield c
    finally:
        await runtime.close()


def samples(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name)]


async def test_inbound_requests_are_measured_without_tracing(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/sagas")).status_code == 200
    assert (await client.get("/v1/executions/nosuch")).status_code == 404
    text = (await client.get("/metrics")).text
    counts = samples(text, "http_server_duration_milliseconds_count{")
    assert any('http_method="GET"' in c and 'http_status_code="200"' in c for c in counts), counts
    assert any('http_status_code="404"' in c for c in counts), counts
    assert samples(text, "http_server_active_requests{")


async def test_a_given_up_compensation_attempt_is_counted_exhausted(
    client: httpx.AsyncClient, participant: ScriptedParticipant
) -> None:
    participant.on("/b", Reply(status=409))
    participant.on("/a/undo", *[Reply(status=503)] * 2)
    await register(
        client,
        three_steps(
            participant.url,
            retry={"max_attempts": 1},
            compensation_retry={"max_attempts": 2, "initial_interval": "10ms"},
        ),
    )
    ex = await start(client, "trip", {"order": "o"})
    assert ex["status"] == "failed"
    text = (await client.get("/metrics")).text
    labels = 'direction="compensation",outcome="{}",saga="trip",step="a"'
    assert f"saga_step_attempts_total{{{labels.format('retryable')}}} 1.0" in text
    assert f"saga_step_attempts_total{{{labels.format('exhausted')}}} 1.0" in text
