"""Spans of a saga, emitted from its persisted history when each part ends.

`saga <name>` (root) ends when the execution is terminal; `step <s>` when the forward phase of a
step ends; `compensate <s>` when its compensation ends. Each is built from the history with the
ids its children already use, so it does not matter which process — or how many restarts — ran
the saga. The HTTP client span of each attempt is live: the executor starts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanKind, Status, StatusCode, Tracer

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.spec import SagaSpec
from coordinator.core.state import Direction, ExecutionStatus
from coordinator.ports import ExecutionRecord
from coordinator.telemetry.context import PARENT_KEY, span_context_of, step_span_id
from coordinator.telemetry.ids import preset_ids

_ROOT_EVENTS = frozenset(
    {
        HistoryEventType.ROLLBACK_STARTED,
        HistoryEventType.CANCEL_REQUESTED,
        HistoryEventType.CANCEL_WITHDRAWN,
        HistoryEventType.RETRY_REQUESTED,
    }
)
_WAIT_EVENTS = frozenset(
    {HistoryEventType.ATTEMPT_WAITING, HistoryEventType.CALLBACK_RECEIVED, HistoryEventType.HEARTBEAT_RECEIVED}
)
_STEP_ENDS = frozenset({HistoryEventType.ATTEMPT_SUCCEEDED, HistoryEventType.STEP_FAILED})


def _ns(ms: int) -> int:
    return ms * 1_000_000


def saga_attributes(record: ExecutionRecord) -> dict[str, str | int]:
    """The attributes every span of an execution carries."""
    state = record.state
    attributes: dict[str, str | int] = {
        "saga.name": state.saga,
        "saga.version": state.version,
        "saga.execution_id": state.id,
    }
    if record.business_key is not None:
        attributes["saga.key"] = record.business_key
    return attributes


def step_round(record: ExecutionRecord, step: str, direction: Direction) -> int:
    """Distinguishes the compensate spans of one step before and after an operator retry."""
    if direction is Direction.ACTION:
        return 0
    found = next((s for s in record.state.steps if s.name == step), None)
    return found.compensation_budget_base if found else 0


@dataclass(frozen=True, slots=True)
class _Closing:
    step: str
    direction: Direction
    error: str | None


class SpanEmitter:
    """Builds the saga's long-lived spans from history once they end."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    @staticmethod
    def closing(new: Sequence[HistoryEvent]) -> tuple[list[_Closing], bool]:
        """Which step spans and whether the root span end with these new history entries."""
        closing: list[_Closing] = []
        for e in new:
            if e.step is None:
                continue
            if e.direction is Direction.ACTION and e.type in _STEP_ENDS:
                failed = e.type is HistoryEventType.STEP_FAILED
                closing.append(_Closing(e.step, Direction.ACTION, e.error if failed else None))
            elif e.direction is Direction.COMPENSATION and e.type is HistoryEventType.ATTEMPT_SUCCEEDED:
                closing.append(_Closing(e.step, Direction.COMPENSATION, None))
            elif e.type is HistoryEventType.EXECUTION_FAILED:
                closing.append(_Closing(e.step, Direction.COMPENSATION, e.error))
        return closing, any(e.type.ends_execution for e in new)

    def emit(
        self,
        record: ExecutionRecord,
        new: Sequence[HistoryEvent],
        history: Sequence[HistoryEvent],
        *,
        spec: SagaSpec | None = None,
    ) -> None:
        """Emit the spans that `new` (the tail of `history`) ends; with `spec`, a group member's
        spans carry `saga.group` (they overlap their siblings' under the saga span)."""
        root = span_context_of(record.trace_context)
        if root is None:
            return
        groups = {step.name: step.group for step in spec.steps if step.group is not None} if spec else {}
        closing, terminal = self.closing(new)
        for part in closing:
            self._emit_step(record, root, part, history, groups.get(part.step))
        if terminal:
            self._emit_root(record, root, history)

    def _emit_step(
        self,
        record: ExecutionRecord,
        root: trace.SpanContext,
        part: _Closing,
        history: Sequence[HistoryEvent],
        group: str | None,
    ) -> None:
        round_ = step_round(record, part.step, part.direction)
        events = list(history)
        if part.direction is Direction.COMPENSATION:
            retries = [i for i, e in enumerate(history) if e.type is HistoryEventType.RETRY_REQUESTED]
            events = events[retries[-1] + 1 :] if retries else events
        mine = [e for e in events if e.step == part.step and e.direction is part.direction]
        started = next((e.at_ms for e in mine if e.type is HistoryEventType.ATTEMPT_STARTED), None)
        if started is None:
            return
        ended = mine[-1].at_ms if mine else started
        name = f"{'step' if part.direction is Direction.ACTION else 'compensate'} {part.step}"
        attributes = {
            **saga_attributes(record),
            "saga.step": part.step,
            "saga.direction": part.direction.value,
            "saga.attempts": sum(1 for e in mine if e.type is HistoryEventType.ATTEMPT_STARTED),
        }
        if group is not None:
            attributes["saga.group"] = group
        span_id = step_span_id(record.state.id, part.step, part.direction.value, round_)
        with preset_ids(None, span_id):
            span = self._tracer.start_span(
                name,
                context=trace.set_span_in_context(NonRecordingSpan(root)),
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=_ns(started),
            )
        for e in mine:
            if e.type is HistoryEventType.RETRY_SCHEDULED:
                span.add_event(
                    HistoryEventType.RETRY_SCHEDULED,
                    {
                        "saga.attempt": e.attempt or 0,
                        "saga.retry.delay_ms": e.delay_ms or 0,
                        "saga.retry.reason": _previous_error(mine, e) or "",
                    },
                    timestamp=_ns(e.at_ms),
                )
            elif e.type is HistoryEventType.ATTEMPT_RESENT:
                span.add_event(e.type, {"saga.attempt": e.attempt or 0}, timestamp=_ns(e.at_ms))
            elif e.type in _WAIT_EVENTS:
                # The step span runs from its first attempt to its end, so it covers the wait;
                # these mark where the wait began and what the participant said during it.
                details: dict[str, str | int] = {"saga.attempt": e.attempt or 0}
                if e.type is HistoryEventType.CALLBACK_RECEIVED:
                    details["saga.callback.outcome"] = e.outcome or ""
                elif e.type is HistoryEventType.ATTEMPT_WAITING:
                    details["saga.callback.timeout_ms"] = e.delay_ms or 0
                span.add_event(e.type, details, timestamp=_ns(e.at_ms))
        if part.error is not None:
            span.set_status(Status(StatusCode.ERROR, part.error))
        span.end(end_time=_ns(ended))

    def _emit_root(self, record: ExecutionRecord, root: trace.SpanContext, history: Sequence[HistoryEvent]) -> None:
        state = record.state
        parent = span_context_of(record.trace_context, PARENT_KEY)
        # An explicit empty context: without a caller, the root must not adopt whatever span is current.
        context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent else Context()
        attributes = {**saga_attributes(record), "saga.outcome": state.status.value}
        if state.error is not None:
            attributes["saga.error.step"] = state.error.step or ""
        with preset_ids(root.trace_id, root.span_id):
            span = self._tracer.start_span(
                f"saga {state.saga}",
                context=context,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=_ns(state.created_at_ms),
            )
        for e in history:
            if e.type in _ROOT_EVENTS:
                details = {"saga.step": e.step or "", "saga.reason": e.error or ""}
                span.add_event(e.type, details, timestamp=_ns(e.at_ms))
        if state.status is not ExecutionStatus.COMPLETED:
            span.set_status(Status(StatusCode.ERROR, state.error.message if state.error else state.status.value))
        span.end(end_time=_ns(state.updated_at_ms))


def _previous_error(events: Sequence[HistoryEvent], retry: HistoryEvent) -> str | None:
    """The error of the failed attempt a retry follows."""
    previous = (retry.attempt or 0) - 1
    before = [e for e in events if e.type is HistoryEventType.ATTEMPT_FAILED and e.attempt == previous]
    return before[-1].error if before else None
