"""OpenTelemetry: one trace per saga, metrics for Prometheus, structured logs."""

from coordinator.telemetry.context import new_trace_context, step_carrier, step_span_id, trace_id_of
from coordinator.telemetry.logs import JsonFormatter, TextFormatter
from coordinator.telemetry.loop_lag import LoopLagSampler
from coordinator.telemetry.observer import TelemetryObserver
from coordinator.telemetry.setup import Telemetry, TelemetryError
from coordinator.telemetry.spans import saga_attributes, step_round
from coordinator.telemetry.trace_contexts import W3CTraceContexts

__all__ = [
    "JsonFormatter",
    "LoopLagSampler",
    "Telemetry",
    "TelemetryError",
    "TelemetryObserver",
    "TextFormatter",
    "W3CTraceContexts",
    "new_trace_context",
    "saga_attributes",
    "step_carrier",
    "step_round",
    "step_span_id",
    "trace_id_of",
]
