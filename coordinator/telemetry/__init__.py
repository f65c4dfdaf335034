"""OpenTelemetry: the trace context of each execution, kept on its row."""

from coordinator.telemetry.context import new_trace_context, outbound_trace_headers, trace_id_of

__all__ = ["new_trace_context", "outbound_trace_headers", "trace_id_of"]
