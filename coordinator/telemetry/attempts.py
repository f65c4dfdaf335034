"""The HTTP client span of each attempt: the executor's `AttemptTracer`, on OpenTelemetry.

The span is a child of the step's span (the request's trace carrier) and is the parent the
participant sees in its `traceparent`. With tracing off, no span is made but the participant
still gets the step's trace context, so its own traces join the saga's.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from coordinator.core.outcome import OutcomeKind, StepOutcome
from coordinator.ports import AttemptSpan, AttemptTracer, OutboundRequest, UnrecordedSpan

_propagator = TraceContextTextMapPropagator()
_TRACE_KEYS = ("traceparent", "tracestate")


class _ClientSpan(AttemptSpan):
    """An OpenTelemetry span of kind CLIENT."""

    def __init__(self, span: Span) -> None:
        self._span = span
        self._headers: dict[str, str] = {}
        _propagator.inject(self._headers, context=trace.set_span_in_context(span))

    @property
    def headers(self) -> dict[str, str]:
        """The trace context naming this span."""
        return self._headers

    def finish(self, outcome: StepOutcome) -> None:
        """Status code, `saga.outcome`, and an error status for anything but a success."""
        span = self._span
        if outcome.status_code is not None:
            span.set_attribute("http.response.status_code", outcome.status_code)
        span.set_attribute("saga.outcome", outcome.label)
        if outcome.kind is not OutcomeKind.SUCCESS:
            span.set_status(Status(StatusCode.ERROR, outcome.describe()))
            if outcome.status_code is None:
                span.set_attribute("error.type", outcome.label)
        span.end()

    def abort(self, error: BaseException) -> None:
        """Record the exception and end the span."""
        self._span.record_exception(error)
        self._span.end()


class OtelAttemptTracer(AttemptTracer):
    """Spans from `tracer`; with None (tracing off), only the trace context is propagated."""

    def __init__(self, tracer: Tracer | None) -> None:
        self._tracer = tracer

    def start(self, request: OutboundRequest, *, url: str) -> AttemptSpan:
        """Open the attempt's span under the step's span (`request.trace_carrier`)."""
        if self._tracer is None:
            # The step's carrier is already what the propagator writes (`step_carrier` made it
            # with `inject`): passed on as it is, not parsed and written again for each call.
            carrier = request.trace_carrier
            return UnrecordedSpan({k: v for k in _TRACE_KEYS if (v := carrier.get(k))})
        parent = _propagator.extract(carrier=request.trace_carrier)
        span = self._tracer.start_span(
            request.method,
            context=parent,
            kind=SpanKind.CLIENT,
            attributes={**request.span_attributes, "http.request.method": request.method, "url.full": url},
        )
        return _ClientSpan(span)
