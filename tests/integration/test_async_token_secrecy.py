"""A callback token is a capability (SPEC 7.3): after a whole async saga (a wait, heartbeats, a
refused forgery, the callback, a duplicate), the known token is nowhere: not in the SQLite file,
the history, the API's answers, the logs, the exported spans, nor /metrics. And the views show the
wait without it."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from coordinator import __version__
from coordinator.api import create_app
from coordinator.cli.execution_view import render_execution
from coordinator.cli.timeline import render_timeline
from coordinator.client.models import Execution
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.telemetry import JsonFormatter, Telemetry
from saga_examples.serve import serve_asgi
from tests.integration.scripted_participant import ScriptedParticipant
from tests.integration.test_async_callbacks import callback_path, ended, events, setup, until, waiting


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", shutdown_grace_seconds=0.5)


class Observed:
    def __init__(self, client: httpx.AsyncClient, exporter: InMemorySpanExporter, runtime: Runtime) -> None:
        self.client = client
        self.exporter = exporter
        self.runtime = runtime


@pytest.fixture
async def observed(settings: Settings) -> AsyncIterator[Observed]:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry.from_env({}, service_version=__version__, span_processors=[SimpleSpanProcessor(exporter)])
    runtime = await Runtime.open(settings, telemetry=telemetry)
    await runtime.start()
    try:
        async with serve_asgi(create_app(settings, runtime=runtime)) as url, httpx.AsyncClient(base_url=url) as c:
            yield Observed(c, exporter, runtime)
    finally:
        await runtime.close()


async def test_the_token_is_nowhere_but_in_the_participants_hands(
    observed: Observed, participant: ScriptedParticipant, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = observed.client
    execution_id = await setup(client, participant, timeout="30s", heartbeat="10s")
    await until(client, execution_id, waiting())
    path = callback_path(participant)
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 40

    waiting_view = (await client.get(f"/v1/executions/{execution_id}")).json()
    charge = next(s for s in waiting_view["steps"] if s["name"] == "charge")
    assert charge["status"] == "waiting" and charge["waiting"]["attempt"] == 1
    assert charge["waiting"]["timeout_at"] > charge["waiting"]["since"]
    shown = render_execution(Execution.from_json(waiting_view), now=None)
    assert "waiting for the callback of attempt 1" in shown
    timeline = render_timeline(waiting_view, await events(client, execution_id))
    assert "waiting for its callback" in timeline

    answers: list[str] = [json.dumps(waiting_view)]
    answers.append((await client.post(path + "/heartbeat")).text)
    answers.append((await client.post(path[:-3] + "AAA", json={"outcome": "succeeded"})).text)  # a forgery: 404
    answers.append((await client.post(path, json={"outcome": "succeeded", "body": {"charge_id": "c1"}})).text)
    await until(client, execution_id, ended)
    answers.append((await client.post(path, json={"outcome": "succeeded", "body": {"charge_id": "c1"}})).text)
    answers.append((await client.get(f"/v1/executions/{execution_id}")).text)
    answers.append((await client.get(f"/v1/executions/{execution_id}/events")).text)
    answers.append((await client.get("/v1/executions", params={"saga": "pay"})).text)
    answers.append((await client.get(f"/ui/executions/{execution_id}")).text)
    metrics = (await client.get("/metrics")).text
    assert 'saga_callbacks_total{outcome="succeeded"} 1' in metrics.replace(".0", "")
    assert 'outcome="not_found"' in metrics and 'outcome="duplicate"' in metrics

    history = await events(client, execution_id)
    types = [e["type"] for e in history]
    assert {"attempt_waiting", "heartbeat_received", "callback_received"} <= set(types)
    waited = next(e for e in history if e["type"] == "attempt_waiting")
    assert waited["request"]["headers"]["X-Saga-Callback-Url"].endswith("/v1/callbacks/***")

    await observed.runtime.close()  # flush everything to the file and the exporter
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    spans = observed.exporter.get_finished_spans()
    assert any(s.name.startswith("POST /v1/callbacks/") for s in spans)
    span_text = "\n".join(s.to_json() for s in spans)
    log_text = "\n".join(JsonFormatter().format(r) for r in caplog.records)

    for where, text in (
        ("API answers", "\n".join(answers)),
        ("history", json.dumps(history)),
        ("metrics", metrics),
        ("spans", span_text),
        ("logs", log_text),
    ):
        assert token not in text, f"the callback token leaked into {where}"
    assert token.encode() not in stored, "the callback token is stored in the database file"
    assert "step charge" in span_text and "callback_received" in span_text  # the wait is in the trace
