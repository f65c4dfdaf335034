"""The engine's telemetry observer: logs, metrics and spans from each committed decision."""

from __future__ import annotations

import logging
from collections.abc import Callable

from coordinator.core.history import HistoryEvent
from coordinator.core.spec import SagaSpec
from coordinator.ports import AttentionCount, AttentionReason, ExecutionObserver, ExecutionRecord, SagaStore
from coordinator.telemetry.logs import log_attention, log_history
from coordinator.telemetry.metrics import SagaMetrics
from coordinator.telemetry.setup import INSTRUMENTATION, Telemetry
from coordinator.telemetry.spans import SpanEmitter

log = logging.getLogger("coordinator.telemetry")
_PAGE = 1000


class TelemetryObserver(ExecutionObserver):
    """Never raises: telemetry must not fail or block a saga (the worst case is a dropped span)."""

    def __init__(
        self,
        telemetry: Telemetry,
        store: SagaStore,
        *,
        pending_wakeups: Callable[[], int] = lambda: 0,
        calls_in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        self._telemetry = telemetry
        self._store = store
        self._metrics = SagaMetrics(
            telemetry.meter_provider.get_meter(INSTRUMENTATION),
            pending_wakeups=pending_wakeups,
            calls_in_flight=calls_in_flight,
        )
        self._spans = SpanEmitter(telemetry.tracer)

    async def committed(
        self, record: ExecutionRecord, history: tuple[HistoryEvent, ...], *, spec: SagaSpec | None = None
    ) -> None:
        """Log, count, and emit the spans these entries end (a group member's with its group's name)."""
        try:
            log_history(record, history)
            self._metrics.record(record, history)
            if self._telemetry.tracing_enabled:
                closing, terminal = SpanEmitter.closing(history)
                if closing or terminal:
                    self._spans.emit(record, history, await self._history(record.state.id), spec=spec)
        except Exception:
            log.exception("telemetry failed for execution %s (the saga is unaffected)", record.state.id)

    def resumed(self, record: ExecutionRecord) -> None:
        """Count a recovered execution as in flight here."""
        self._metrics.resumed(record)

    def attention_counted(self, counts: list[AttentionCount]) -> None:
        """Feed the `saga_executions_needing_attention` gauge."""
        self._metrics.attention_counted(counts)

    def waiting_counted(self, counts: dict[str, int]) -> None:
        """Feed the gauge of steps waiting for a callback."""
        self._metrics.waiting_counted(counts)

    def callback_answered(self, outcome: str) -> None:
        """Count one callback or heartbeat by how it was answered."""
        self._metrics.callback_answered(outcome)

    def needs_attention(self, record: ExecutionRecord, reason: AttentionReason) -> None:
        """One WARNING line for the execution that started needing an operator."""
        try:
            log_attention(record, reason.value)
        except Exception:
            log.exception("could not log that execution %s needs attention", record.state.id)

    async def _history(self, execution_id: str) -> list[HistoryEvent]:
        events: list[HistoryEvent] = []
        after = 0
        while True:
            page = await self._store.list_events(execution_id, after_seq=after, limit=_PAGE)
            events += [e.event for e in page.items]
            if page.next_cursor is None or not page.items:
                return events
            after = page.items[-1].seq
