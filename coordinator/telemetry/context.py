"""The W3C trace context of an execution: created at start, stored on the row, reused forever.

Keeping the carrier on the execution row is what makes every span of a saga, including a retry
fired after a restart, land in the same trace.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_ids = RandomIdGenerator()
_propagator = TraceContextTextMapPropagator()


def new_trace_context(incoming: Mapping[str, str] | None = None) -> dict[str, str]:
    """A carrier for a new execution's root span; a valid incoming `traceparent` is its parent trace."""
    trace_id = _ids.generate_trace_id()
    flags = TraceFlags.SAMPLED
    state = ""
    if incoming:
        parent = trace.get_current_span(_propagator.extract(carrier=dict(incoming))).get_span_context()
        if parent.is_valid:
            trace_id = parent.trace_id
            flags = parent.trace_flags
            state = incoming.get("tracestate", "")
    span_id = _ids.generate_span_id()
    carrier = {"traceparent": f"00-{format_trace_id(trace_id)}-{format_span_id(span_id)}-{int(flags):02x}"}
    if state:
        carrier["tracestate"] = state
    return carrier


def trace_id_of(carrier: Mapping[str, str]) -> str | None:
    """The 32-hex-digit trace id of a stored carrier."""
    parts = carrier.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 else None


def outbound_trace_headers(carrier: Mapping[str, str]) -> dict[str, str]:
    """The headers a participant call carries so it joins the execution's trace."""
    context = _propagator.extract(carrier=dict(carrier))
    span_context = trace.get_current_span(context).get_span_context()
    if not span_context.is_valid:
        return {}
    child = SpanContext(
        trace_id=span_context.trace_id,
        span_id=_ids.generate_span_id(),
        is_remote=False,
        trace_flags=span_context.trace_flags,
        trace_state=span_context.trace_state,
    )
    headers: dict[str, str] = {}
    _propagator.inject(headers, context=trace.set_span_in_context(NonRecordingSpan(child)))
    return headers
