"""Inbound server spans, as plain ASGI: one per request, named `METHOD /path`, probes untraced; metrics always."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from coordinator.telemetry import Telemetry
from coordinator.telemetry.inbound import saga_parent, with_server_spans


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers 204, after noting the trace parent a saga started here would get."""
    scope["state"]["parent"] = saga_parent({"traceparent": "caller's"})
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _call(app: Any, path: str) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    await app(scope, receive, send)
    state: dict[str, Any] = scope["state"]
    return state


async def test_each_request_but_the_probes_gets_a_server_span_that_parents_its_saga() -> None:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry.from_env({}, service_version="x", span_processors=[SimpleSpanProcessor(exporter)])
    app = with_server_spans(_app, telemetry)

    traced = await _call(app, "/v1/sagas/metrics")  # a saga may be called `metrics`: only probe paths are skipped
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert (await _call(app, probe))["parent"] == {"traceparent": "caller's"}

    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.SERVER and span.name == "GET /v1/sagas/metrics"
    assert span.attributes is not None and span.attributes["http.route"] == "GET /v1/sagas/metrics"
    assert span.context is not None
    assert traced["parent"]["traceparent"].split("-")[2] == f"{span.context.span_id:016x}"
    telemetry.shutdown()


async def test_without_tracing_each_request_is_measured_but_mints_no_span() -> None:
    telemetry = Telemetry.from_env({}, service_version="x")
    app = with_server_spans(_app, telemetry)
    assert (await _call(app, "/v1/sagas"))["parent"] == {"traceparent": "caller's"}  # no span of ours to parent
    await _call(app, "/metrics")
    text = telemetry.prometheus_text().decode()
    # One request measured (the scrape is not), under the names an alert uses with tracing on too.
    assert "http_server_duration_milliseconds_count{" in text
    counts = [line for line in text.splitlines() if line.startswith("http_server_duration_milliseconds_count")]
    assert len(counts) == 1 and counts[0].endswith(" 1.0") and 'http_status_code="204"' in counts[0]
    telemetry.shutdown()
