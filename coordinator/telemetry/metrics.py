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

_Tally = dict[tuple[str, ...], int]
"""A counter kept in process: label values (in the instrument's label order) -> total."""


def _add(tally: _Tally, labels: tuple[str, ...], n: int) -> None:
    tally[labels] = tally.get(labels, 0) + n


def _observe(
    create: Callable[..., object], name: str, description: str, tally: _Tally, label_names: tuple[str, ...]
) -> None:
    """An observable instrument reporting `tally`, as the synchronous one it replaces did."""

    def observe(_: CallbackOptions) -> list[Observation]:
        # A copy first: a scrape may run on another thread than the one counting.
        return [Observation(n, dict(zip(label_names, labels, strict=True))) for labels, n in dict(tally).items()]

    create(name, [observe], description=description)


class SagaMetrics:
    """Counters, histograms and gauges; `pending_wakeups` and `calls_in_flight` are read at scrape time."""

    def __init__(
        self,
        meter: Meter,
        *,
        pending_wakeups: Callable[[], int] = lambda: 0,
        calls_in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        # Counted here, read by OpenTelemetry only at scrape time: an instrument's `add` hashes and
        # cleans its attributes on every call (several per transition, ~3 % of the coordinator's
        # CPU), while a dict keyed by the label values costs one lookup.
        self._started: _Tally = {}
        self._finished: _Tally = {}
        self._attempts: _Tally = {}
        self._compensation_failures: _Tally = {}
        self._in_flight: _Tally = {}
        _observe(
            meter.create_observable_counter, "saga.executions.started", "Executions started", self._started, ("saga",)
        )
        _observe(
            meter.create_observable_counter,
            "saga.executions.finished",
            "Executions that ended, by status (completed, compensated, failed)",
            self._finished,
            ("saga", "status"),
        )
        _observe(
            meter.create_observable_counter,
            "saga.step.attempts",
            "Attempts by step, direction and outcome",
            self._attempts,
            ("saga", "step", "direction", "outcome"),
        )
        _observe(
            meter.create_observable_counter,
            "saga.compensation.failures",
            "Compensations that failed for good (execution failed)",
            self._compensation_failures,
            ("saga", "step"),
        )
        self._step_duration = meter.create_histogram(
            "saga.step.duration", unit="s", description="Forward phase of a step, all attempts and waits"
        )
        self._execution_duration = meter.create_histogram(
            "saga.execution.duration", unit="s", description="Start to terminal status"
        )
        _observe(
            meter.create_observable_up_down_counter,
            "saga.executions.in_flight",
            "Executions not yet terminal, driven by this process",
            self._in_flight,
            ("saga",),
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
        _add(self._in_flight, (record.state.saga,), 1)

    def record(self, record: ExecutionRecord, history: Sequence[HistoryEvent]) -> None:
        """Count what the new history entries say happened."""
        state = record.state
        saga = state.saga
        for e in history:
            type_ = e.type
            if type_ is HistoryEventType.EXECUTION_STARTED:
                _add(self._started, (saga,), 1)
                _add(self._in_flight, (saga,), 1)
            elif type_ in _ATTEMPT_ENDS and e.step and e.direction:
                _add(self._attempts, (saga, e.step, e.direction.value, e.outcome or "unknown"), 1)
            if type_ in _STEP_ENDS and e.direction is Direction.ACTION and e.step:
                self._record_step(record, e)
            if type_ in _TERMINAL:
                status = _TERMINAL[type_]
                _add(self._finished, (saga, status), 1)
                _add(self._in_flight, (saga,), -1)
                self._execution_duration.record(
                    (e.at_ms - state.created_at_ms) / 1000, {"saga": saga, "status": status}
                )
                if status == "failed":
                    _add(self._compensation_failures, (saga, e.step or ""), 1)

    def _record_step(self, record: ExecutionRecord, event: HistoryEvent) -> None:
        step = next((s for s in record.state.steps if s.name == event.step), None)
        if step is None or step.started_at_ms is None:
            return
        status = "succeeded" if event.type is HistoryEventType.ATTEMPT_SUCCEEDED else "failed"
        labels = {"saga": record.state.saga, "step": event.step or "", "status": status}
        self._step_duration.record((event.at_ms - step.started_at_ms) / 1000, labels)
