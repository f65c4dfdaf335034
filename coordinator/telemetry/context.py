"""The W3C trace context of an execution: created at start, stored on its row, reused forever.

Keeping the carrier on the execution row, and deriving each step's span id from the execution's
identity, is what makes every span of a saga — a retry fired minutes later, an attempt re-sent
after a SIGKILL — land in the same trace under the same parents.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_ids = RandomIdGenerator()
_propagator = TraceContextTextMapPropagator()
PARENT_KEY = "parent_traceparent"
"""Carrier key of the caller's span, when the start request carried one."""


def _traceparent(context: SpanContext) -> str:
    return f"00-{format_trace_id(context.trace_id)}-{format_span_id(context.span_id)}-{int(context.trace_flags):02x}"


def span_context_of(carrier: Mapping[str, str], key: str = "traceparent") -> SpanContext | None:
    """The span context a stored `traceparent` (or another key holding one) names, if valid."""
    value = carrier.get(key)
    if not value:
        return None
    return _parse(value, carrier.get("tracestate") if key == "traceparent" else None)


@functools.lru_cache(maxsize=4096)
def _parse(traceparent: str, tracestate: str | None) -> SpanContext | None:
    # Parsed on every call and log line of an execution: worth remembering (SpanContext is immutable).
    headers = {"traceparent": traceparent}
    if tracestate:
        headers["tracestate"] = tracestate
    context = trace.get_current_span(_propagator.extract(carrier=headers)).get_span_context()
    return context if context.is_valid else None


def new_trace_context(incoming: Mapping[str, str] | None = None) -> dict[str, str]:
    """A carrier for a new execution's root span; a valid incoming `traceparent` is its parent."""
    parent = span_context_of(incoming) if incoming else None
    trace_id = parent.trace_id if parent else _ids.generate_trace_id()
    flags = parent.trace_flags if parent else TraceFlags(TraceFlags.SAMPLED)
    root = SpanContext(trace_id=trace_id, span_id=_ids.generate_span_id(), is_remote=False, trace_flags=flags)
    carrier = {"traceparent": _traceparent(root)}
    if parent is not None:
        carrier[PARENT_KEY] = _traceparent(parent)
        if incoming and incoming.get("tracestate"):
            carrier["tracestate"] = incoming["tracestate"]
    return carrier


def trace_id_of(carrier: Mapping[str, str]) -> str | None:
    """The 32-hex-digit trace id of a stored carrier."""
    parts = carrier.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 else None


def derived_span_id(*parts: object) -> int:
    """A stable, non-zero 64-bit span id derived from `parts` (the same after a restart)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def step_span_id(execution_id: str, step: str, direction: str, round_: int) -> int:
    """The span id of `step <step>` / `compensate <step>`; `round_` changes after an operator retry."""
    return derived_span_id(execution_id, step, direction, round_)


def step_carrier(carrier: Mapping[str, str], span_id: int) -> dict[str, str]:
    """The carrier of a step's span, the parent of its attempts' HTTP client spans."""
    root = span_context_of(carrier)
    if root is None:
        return {}
    step = SpanContext(
        trace_id=root.trace_id,
        span_id=span_id,
        is_remote=False,
        trace_flags=root.trace_flags,
        trace_state=root.trace_state,
    )
    headers: dict[str, str] = {}
    _propagator.inject(headers, context=trace.set_span_in_context(NonRecordingSpan(step)))
    return headers
