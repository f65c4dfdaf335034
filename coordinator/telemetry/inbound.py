"""Inbound requests: metrics and a server span for each, and the trace parent of a saga a request starts.

Plain ASGI, so the API needs no OpenTelemetry of its own: the app factory wraps its handler with
`with_server_spans`, and a start request asks `saga_parent` for its trace context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.http import get_excluded_urls

from coordinator.ports import TRACE_HEADERS
from coordinator.redaction import CALLBACK_PATH, redact_callback_path
from coordinator.telemetry.setup import Telemetry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
"""An ASGI application, `(scope, receive, send)`; each framework types the three its own way."""

UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: frequent, and of no interest in a trace."""

# The variable the server framework's own instrumentation read, kept so that a deployment's
# OTEL_PYTHON_LITESTAR_EXCLUDED_URLS (or the generic OTEL_PYTHON_EXCLUDED_URLS) still applies.
_EXCLUDED_URLS_KEY = "LITESTAR"
_propagator = TraceContextTextMapPropagator()


def _span_details(scope: Scope) -> tuple[str, dict[str, str]]:
    """`METHOD /path` as the span's name and `http.route` (one span name per URL, as before)."""
    path = str(scope.get("path", "")).strip()
    method = str(scope.get("method", "")).strip()
    name = f"{method} {path}" if method and path else path
    return name, {"http.route": name}


class ServerSpans:
    """ASGI middleware: `http.server.*` metrics for each request but the probes; a server span when tracing is on.

    With tracing off the middleware is the same, over a no-op tracer: the metrics (which an alert
    on error rates or latency needs whatever the trace export does) keep their names and labels,
    and no span id is minted (a sampler that records nothing would still make one, and a saga
    started by the request would then hang under a span nobody has).
    """

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self._app = app
        self._traced = self._middleware(app, telemetry)
        self._traced_masked = self._middleware(_unmasked(app), telemetry)

    @staticmethod
    def _middleware(app: ASGIApp, telemetry: Telemetry) -> OpenTelemetryMiddleware:
        return OpenTelemetryMiddleware(
            app,
            excluded_urls=get_excluded_urls(_EXCLUDED_URLS_KEY),
            default_span_details=_span_details,
            tracer_provider=telemetry.tracer_provider if telemetry.tracing_enabled else trace.NoOpTracerProvider(),
            meter_provider=telemetry.meter_provider,
            # The per-message receive/send spans would double the span count and say nothing.
            exclude_spans=["receive", "send"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call, inside a server span unless its path is a probe's."""
        path = scope.get("path")
        if path in UNTRACED_PATHS:
            await self._app(scope, receive, send)
        elif isinstance(path, str) and path.startswith(CALLBACK_PATH):
            # The token in a callback's path is a capability: spans and metrics see it as `***`,
            # the handler the path as sent.
            shown = redact_callback_path(path)
            masked = {**scope, "path": shown, "raw_path": shown.encode(), _ORIGINAL: (path, scope.get("raw_path"))}
            await self._traced_masked(masked, receive, send)
        else:
            await self._traced(scope, receive, send)


_ORIGINAL = "saga.unmasked_path"


def _unmasked(app: ASGIApp) -> ASGIApp:
    """`app`, given back the path `ServerSpans` masked for the span."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        path, raw = scope[_ORIGINAL]
        original = {k: v for k, v in scope.items() if k != _ORIGINAL}
        original["path"] = path
        if raw is not None:
            original["raw_path"] = raw
        await app(original, receive, send)

    return call


def with_server_spans(app: ASGIApp, telemetry: Telemetry) -> ASGIApp:
    """`app` inside `ServerSpans`: measured always, traced when tracing is on."""
    return ServerSpans(app, telemetry)


def saga_parent(request_headers: Mapping[str, str]) -> dict[str, str]:
    """The trace parent of a saga this request starts.

    The request's own server span when it is traced (so the saga hangs under the request that
    started it), else the caller's `traceparent` and `tracestate`, as sent.
    """
    if trace.get_current_span().get_span_context().is_valid:
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        return carrier
    return {k: v for k in TRACE_HEADERS if (v := request_headers.get(k))}
