"""One trace per saga, metrics and logs, checked with an in-memory span exporter."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id

from coordinator import __version__
from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.telemetry import JsonFormatter, Telemetry
from saga_examples.serve import serve_asgi
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply, ScriptedParticipant
from tests.integration.test_api import register, start


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Telemetry does not depend on the database: SQLite only here."""
    return Settings(database_url=f"sqlite:///{tmp_path / 'saga.db'}", shutdown_grace_seconds=0.5)


class Traced:
    def __init__(self, exporter: InMemorySpanExporter, client: httpx.AsyncClient, runtime: Runtime) -> None:
        self.exporter = exporter
        self.client = client
        self.runtime = runtime

    def spans(self, trace_id: str) -> list[ReadableSpan]:
        return [
            s
            for s in self.exporter.get_finished_spans()
            if s.context is not None and format_trace_id(s.context.trace_id) == trace_id
        ]


def _open_telemetry(exporter: InMemorySpanExporter, env: dict[str, str] | None = None) -> Telemetry:
    return Telemetry.from_env(env or {}, service_version=__version__, span_processors=[SimpleSpanProcessor(exporter)])


@pytest.fixture
async def traced(settings: Settings) -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    runtime = await Runtime.open(settings, telemetry=_open_telemetry(exporter))
    await runtime.start()
    try:
        async with serve_asgi(create_app(settings, runtime=runtime)) as url, httpx.AsyncClient(base_url=url) as c:
            yield Traced(exporter, c, runtime)
    finally:
        await runtime.close()


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def only(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = by_name(spans, name)
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_completed_saga_is_one_trace_with_the_expected_tree(
    traced: Traced, participant: ScriptedParticipant
) -> None:
    await register(traced.client, three_steps(participant.url))
    ex = await start(traced.client, "trip", {"order": "o-1"})
    spans = traced.spans(ex["trace_id"])
    root = only(spans, "saga trip")
    # the saga hangs under the request that started it, itself the trace's root
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(server) == 1 and server[0].parent is None and server[0].context is not None
    assert root.context is not None and parent_id(root) == server[0].context.span_id
    assert root.attributes is not None and root.attributes["saga.outcome"] == "completed"
    assert root.attributes["saga.execution_id"] == ex["id"] and root.attributes["saga.version"] == 1
    assert root.status.status_code is not StatusCode.ERROR
    for name in ("a", "b", "c"):
        step = only(spans, f"step {name}")
        assert step.context is not None and parent_id(step) == root.context.span_id
        clients = [s for s in spans if s.kind is SpanKind.CLIENT and parent_id(s) == step.context.span_id]
        assert len(clients) == 1
        attempt = clients[0]
        assert attempt.attributes is not None
        assert attempt.attributes["http.request.method"] == "POST"
        assert attempt.attributes["url.full"] == f"{participant.url}/{name}"
        assert attempt.attributes["http.response.status_code"] == 200
        assert attempt.attributes["saga.attempt"] == 1 and attempt.attributes["saga.name"] == "trip"
        # the participant saw this very span as its parent
        seen = participant.calls(f"/{name}")[0].headers["traceparent"]
        assert attempt.context is not None and seen.split("-")[2] == format_span_id(attempt.context.span_id)


async def test_a_rolled_back_saga_is_visibly_so(traced: Traced, participant: ScriptedParticipant) -> None:
    participant.on("/c", Reply(status=409, body={"detail": "no"}))
    await register(traced.client, three_steps(participant.url))
    ex = await start(traced.client, "trip", {"order": "o"})
    spans = traced.spans(ex["trace_id"])
    root = only(spans, "saga trip")
    assert root.status.status_code is StatusCode.ERROR and "HTTP 409" in (root.status.description or "")
    assert root.attributes is not None and root.attributes["saga.outcome"] == "compensated"
    assert "rollback_started" in [e.name for e in root.events]
    failed_step = only(spans, "step c")
    assert failed_step.status.status_code is StatusCode.ERROR
    undo_b, undo_a = only(spans, "compensate b"), only(spans, "compensate a")
    assert root.context is not None and parent_id(undo_b) == root.context.span_id
    assert undo_b.start_time is not None and undo_a.start_time is not None and undo_b.start_time <= undo_a.start_time
    failed_attempt = next(
        s for s in spans if s.kind is SpanKind.CLIENT and s.attributes and s.attributes.get("saga.step") == "c"
    )
    assert failed_attempt.status.status_code is StatusCode.ERROR
    assert failed_attempt.attributes is not None and failed_attempt.attributes["saga.outcome"] == "fatal"


async def test_retries_are_span_events_with_delay_and_reason(traced: Traced, participant: ScriptedParticipant) -> None:
    participant.on("/b", Reply(status=503, body={"detail": "busy"}), Reply(status=200))
    await register(traced.client, three_steps(participant.url))
    ex = await start(traced.client, "trip", {"order": "o"})
    spans = traced.spans(ex["trace_id"])
    step_b = only(spans, "step b")
    retries = [e for e in step_b.events if e.name == "retry_scheduled"]
    assert len(retries) == 1 and retries[0].attributes is not None
    assert retries[0].attributes["saga.retry.delay_ms"] == 10
    assert "HTTP 503" in str(retries[0].attributes["saga.retry.reason"])
    assert step_b.attributes is not None and step_b.attributes["saga.attempts"] == 2
    outcomes = sorted(
        str(s.attributes.get("saga.outcome"))
        for s in spans
        if s.kind is SpanKind.CLIENT and s.attributes and s.attributes.get("saga.step") == "b"
    )
    assert outcomes == ["retryable", "success"]


async def test_a_caller_traceparent_makes_the_saga_part_of_its_trace(
    traced: Traced, participant: ScriptedParticipant
) -> None:
    await register(traced.client, three_steps(participant.url))
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = await traced.client.post(
        "/v1/sagas/trip/executions",
        json={"input": {"order": "o"}},
        params={"wait": "10s"},
        headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
    )
    ex = r.json()
    assert ex["trace_id"] == caller_trace
    spans = traced.spans(caller_trace)
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server and parent_id(server[0]) == int(caller_span, 16)  # the inbound request, traced
    root = only(spans, "saga trip")
    assert server[0].context is not None and parent_id(root) == server[0].context.span_id


async def test_a_resumed_saga_stays_in_its_trace(settings: Settings, participant: ScriptedParticipant) -> None:
    participant.on("/b", Reply(status=200, delay_s=30))
    before, after = InMemorySpanExporter(), InMemorySpanExporter()  # an exporter stops with its process
    first = await Runtime.open(settings, telemetry=_open_telemetry(before))
    await first.start()
    await first.service.register(three_steps(participant.url))
    record, _ = await first.service.start("trip", {"order": "o"})
    for _ in range(200):
        if participant.calls("/b"):
            break
        await asyncio.sleep(0.02)
    await first.close()  # like a crash: the call to b is left in flight
    participant.script["/b"].clear()
    second = await Runtime.open(settings, telemetry=_open_telemetry(after))
    await second.start()  # recovery re-sends b under the same key
    try:
        done = await second.service.wait_terminal(record.state.id, 10)
    finally:
        await second.close()
    assert done.state.status.value == "completed"
    trace_id = record.trace_context["traceparent"].split("-")[1]
    finished = [*before.get_finished_spans(), *after.get_finished_spans()]
    spans = [s for s in finished if s.context and format_trace_id(s.context.trace_id) == trace_id]
    root = only(spans, "saga trip")
    step_b = only(spans, "step b")
    assert "attempt_resent" in [e.name for e in step_b.events]
    assert (
        root.context is not None
        and format_span_id(root.context.span_id) == record.trace_context["traceparent"].split("-")[2]
    )
    assert {b.headers["idempotency-key"] for b in participant.calls("/b")} == {f"{record.state.id}:b:action"}
    assert {b.headers["traceparent"].split("-")[1] for b in participant.calls("/b")} == {trace_id}


async def test_an_unreachable_collector_costs_nothing_but_spans(
    settings: Settings, participant: ScriptedParticipant, tmp_path: Path
) -> None:
    with socket_closed_port() as port:
        env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        }
        telemetry = Telemetry.from_env(env, service_version=__version__)
        runtime = await Runtime.open(settings, telemetry=telemetry)
        await runtime.start()
        await runtime.service.register(three_steps(participant.url))
        record, _ = await runtime.service.start("trip", {"order": "o"})
        done = await runtime.service.wait_terminal(record.state.id, 10)
        async with asyncio.timeout(15):  # a hang guard, not a performance bound
            await runtime.close()
    assert done.state.status.value == "completed"
    assert telemetry.tracing_enabled


async def test_metrics_count_a_known_workload(traced: Traced, participant: ScriptedParticipant) -> None:
    await register(traced.client, three_steps(participant.url))
    await start(traced.client, "trip", {"order": "1"})
    await start(traced.client, "trip", {"order": "2"})
    participant.on("/b", Reply(status=409))
    await start(traced.client, "trip", {"order": "3"})
    text = (await traced.client.get("/metrics")).text
    expected = [
        'saga_executions_started_total{saga="trip"} 3.0',
        'saga_executions_finished_total{saga="trip",status="completed"} 2.0',
        'saga_executions_finished_total{saga="trip",status="compensated"} 1.0',
        'saga_step_attempts_total{direction="action",outcome="success",saga="trip",step="a"} 3.0',
        'saga_step_attempts_total{direction="action",outcome="fatal",saga="trip",step="b"} 1.0',
        'saga_step_attempts_total{direction="compensation",outcome="success",saga="trip",step="a"} 1.0',
        'saga_executions_in_flight{saga="trip"} 0.0',
        'saga_execution_duration_seconds_count{saga="trip",status="completed"} 2.0',
        'saga_step_duration_seconds_count{saga="trip",status="failed",step="b"} 1.0',
    ]
    for line in expected:
        assert line in text, line


async def test_logs_are_json_lines_with_trace_and_execution_ids(
    traced: Traced, participant: ScriptedParticipant, caplog: pytest.LogCaptureFixture
) -> None:
    participant.on("/c", Reply(status=409))
    await register(traced.client, three_steps(participant.url))
    with caplog.at_level(logging.INFO, logger="coordinator.saga"):
        ex = await start(traced.client, "trip", {"order": "o"})
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "coordinator.saga"]
    events = [line["event"] for line in lines]
    for expected in ("execution_started", "attempt_failed", "rollback_started", "execution_compensated"):
        assert expected in events
    assert all(line["trace_id"] == ex["trace_id"] and line["execution_id"] == ex["id"] for line in lines)
    assert all(line["saga"] == "trip" and len(line["span_id"]) == 16 for line in lines)
    failed = next(line for line in lines if line["event"] == "attempt_failed")
    assert failed["step"] == "c" and failed["status_code"] == 409 and failed["level"] == "warning"


async def test_secrets_never_reach_spans_logs_or_history(
    settings: Settings,
    participant: ScriptedParticipant,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "S3CR3T-5a1e0c"
    monkeypatch.setenv("SAGA_SECRET_PAY", secret)
    participant.on("/b", Reply(status=500, body={"detail": f"bad token {secret}"}))
    exporter = InMemorySpanExporter()
    runtime = await Runtime.open(settings, telemetry=_open_telemetry(exporter))
    await runtime.start()
    doc = three_steps(participant.url, retry={"max_attempts": 1})
    doc["steps"][1]["action"]["url"] = f"{participant.url}/b?token={{{{ secrets.pay }}}}"
    doc["steps"][1]["action"]["headers"] = {"Authorization": "Bearer {{ secrets.pay }}"}
    try:
        await runtime.service.register(doc)
        with caplog.at_level(logging.DEBUG):
            record, _ = await runtime.service.start("trip", {"order": "o"})
            done = await runtime.service.wait_terminal(record.state.id, 10)
        events = await runtime.service.list_events(record.state.id, limit=500)
    finally:
        await runtime.close()
    assert participant.calls("/b")[0].headers["authorization"] == f"Bearer {secret}"
    assert done.state.status.value == "compensated"
    dumped: list[Any] = [repr(s.to_json()) for s in exporter.get_finished_spans()]
    dumped += [r.getMessage() + repr(r.__dict__) for r in caplog.records]
    dumped += [repr(e) for e in events.items] + [repr(done)]
    assert not [d for d in dumped if secret in d]
    assert any("token=***" in d for d in dumped)


class socket_closed_port:
    """A loopback port with nothing listening (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        return self.port

    def __exit__(self, *_: object) -> None:
        return None
