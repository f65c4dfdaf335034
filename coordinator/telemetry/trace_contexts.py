"""The W3C implementation of the `TraceContexts` port: what the engine stores and sends, in OTel terms."""

from __future__ import annotations

from collections.abc import Mapping

from coordinator.core.state import Direction
from coordinator.ports import AttemptTrace, ExecutionRecord, TraceContexts
from coordinator.telemetry.context import new_trace_context, step_carrier, step_span_id
from coordinator.telemetry.spans import saga_attributes, step_round


class W3CTraceContexts(TraceContexts):
    """Root carriers with random ids; step spans with ids derived from the execution (stable across restarts).

    Used whether or not spans are exported: the stored carrier gives every execution its trace id,
    which the API shows, and participants receive a `traceparent` either way.
    """

    def new_execution(self, caller_headers: Mapping[str, str] | None) -> dict[str, str]:
        """See `TraceContexts.new_execution`."""
        return new_trace_context(caller_headers)

    def attempt(self, record: ExecutionRecord, step: str, direction: Direction, attempt: int) -> AttemptTrace:
        """See `TraceContexts.attempt`."""
        round_ = step_round(record, step, direction)
        span_id = step_span_id(record.state.id, step, direction.value, round_)
        return AttemptTrace(
            carrier=step_carrier(record.trace_context, span_id),
            attributes={
                **saga_attributes(record),
                "saga.step": step,
                "saga.direction": direction.value,
                "saga.attempt": attempt,
            },
        )
