"""The coordinator's metrics, recorded from each committed history entry."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.state import Direction
from coordinator.ports import AttentionCount, ExecutionRecord

_TERMINAL = {
    HistoryEventType.EXECUTION_COMPLETED: "completed",
    HistoryEventType.EXECUTION_COMPENSATED: "compensated",
    HistoryEventType.EXECUTION_FAILED: "failed",
}
_ATTEMPT_ENDS = frozenset({HistoryEventType.ATTEMPT_SUCCEEDED, HistoryEventType.ATTEMPT_FAILED})
_STEP_ENDS = frozenset({HistoryEventType.ATTEMPT_SUCCEEDED, HistoryEventType.STEP_FAILED})


class SagaMetrics:
    """Counters, histograms and gauges; `pending_wakeups` and `calls_in_flight` are read at scrape time."""

    def __init__(
        self,
        meter: Meter,
        *,
        pending_wakeups: Callable[[], int] = lambda: 0,
        calls_in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        self._started = meter.create_counter("saga.executions.started", description="Executions started")
        self._finished = meter.create_counter(
            "saga.executions.finished", description="Executions that ended, by status (completed, compensated, failed)"
        )
        self._attempts = meter.create_counter(
            "saga.step.attempts", description="Attempts by step, direction and outcome"
        )
        self._compensation_failures = meter.create_counter(
            "saga.compensation.failures", description="Compensations that failed for good (execution failed)"
        )
        self._step_duration = meter.create_histogram(
            "saga.step.duration", unit="s", description="Forward phase of a step, all attempts and waits"
        )
        self._execution_duration = meter.create_histogram(
            "saga.execution.duration", unit="s", description="Start to terminal status"
        )
        self._in_flight = meter.create_up_down_counter(
            "saga.executions.in_flight", description="Executions not yet terminal, driven by this process"
        )

        def wakeups(_: CallbackOptions) -> list[Observation]:
            return [Observation(pending_wakeups())]

        def calls(_: CallbackOptions) -> list[Observation]:
            return [Observation(calls_in_flight())]

        self._attention: list[AttentionCount] = []
        self._waiting: dict[str, int] = {}
        self._callbacks = meter.create_counter(
            "saga.callbacks",
            description="Callbacks and heartbeats of asynchronous steps by outcome: succeeded, failed, heartbeat "
            "(recorded); duplicate, conflict, superseded, not_found (changed nothing)",
        )

        def waiting(_: CallbackOptions) -> list[Observation]:
            return [Observation(n, {"saga": saga}) for saga, n in sorted(self._waiting.items())]

        meter.create_observable_gauge(
            "saga.steps.waiting",
            [waiting],
            description="Steps waiting for their participant's callback, by saga; recomputed every 15 s",
        )

        def attention(_: CallbackOptions) -> list[Observation]:
            return [Observation(c.count, {"saga": c.saga, "reason": c.reason.value}) for c in self._attention]

        meter.create_observable_gauge(
            "saga.executions.needing_attention",
            [attention],
            description="Executions that need an operator, by saga and reason (failed, quarantined, stalled, "
            "waiting); "
            "recomputed every 15 s from one indexed query",
        )
        meter.create_observable_gauge("saga.wakeups.pending", [wakeups], description="Scheduled retries armed")
        meter.create_observable_gauge("saga.calls.in_flight", [calls], description="Participant calls being sent")

    def attention_counted(self, counts: list[AttentionCount]) -> None:
        """The latest counts of executions needing attention: what the gauge reports until the next."""
        self._attention = list(counts)

    def waiting_counted(self, counts: dict[str, int]) -> None:
        """The latest count of steps waiting for a callback: what the gauge reports until the next."""
        self._waiting = dict(counts)

    def callback_answered(self, outcome: str) -> None:
        """One callback or heartbeat, by how it was answered."""
        self._callbacks.add(1, {"outcome": outcome})

    def resumed(self, record: ExecutionRecord) -> None:
        """A recovered, unfinished execution is driven by this process again."""
        self._in_flight.add(1, {"saga": record.state.saga})

    def record(self, record: ExecutionRecord, history: Sequence[HistoryEvent]) -> None:
        """Count what the new history entries say happened."""
        state = record.state
        saga = {"saga": state.saga}
        for e in history:
            if e.type is HistoryEventType.EXECUTION_STARTED:
                self._started.add(1, saga)
                self._in_flight.add(1, saga)
            elif e.type in _ATTEMPT_ENDS and e.step and e.direction:
                self._attempts.add(
                    1, {**saga, "step": e.step, "direction": e.direction.value, "outcome": e.outcome or "unknown"}
                )
            if e.type in _STEP_ENDS and e.direction is Direction.ACTION and e.step:
                self._record_step(record, e)
            if e.type in _TERMINAL:
                status = _TERMINAL[e.type]
                self._finished.add(1, {**saga, "status": status})
                self._in_flight.add(-1, saga)
                self._execution_duration.record((e.at_ms - state.created_at_ms) / 1000, {**saga, "status": status})
                if status == "failed":
                    self._compensation_failures.add(1, {**saga, "step": e.step or ""})

    def _record_step(self, record: ExecutionRecord, event: HistoryEvent) -> None:
        step = next((s for s in record.state.steps if s.name == event.step), None)
        if step is None or step.started_at_ms is None:
            return
        status = "succeeded" if event.type is HistoryEventType.ATTEMPT_SUCCEEDED else "failed"
        labels = {"saga": record.state.saga, "step": event.step or "", "status": status}
        self._step_duration.record((event.at_ms - step.started_at_ms) / 1000, labels)
