"""Builders for driving the pure machine in tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from coordinator.core import (
    AttemptCompleted,
    CallSpec,
    CallStep,
    Decision,
    Direction,
    Event,
    ExecutionState,
    Jitter,
    OutcomeKind,
    ResponseSnapshot,
    RetryPolicy,
    SagaSpec,
    StatusPattern,
    StepOutcome,
    StepSpec,
    begin_execution,
    decide,
)

RETRY_ON = (StatusPattern("408"), StatusPattern("429"), StatusPattern("5xx"))


def call(path: str, *, timeout_ms: int = 1000, compensation: bool = False) -> CallSpec:
    success = (
        (StatusPattern("2xx"), StatusPattern("404"), StatusPattern("410")) if compensation else (StatusPattern("2xx"),)
    )
    return CallSpec(
        method="POST",
        origin="http://svc:80",
        path_template=path,
        timeout_ms=timeout_ms,
        success=success,
        retry_on_status=RETRY_ON,
    )


def step(
    name: str,
    *,
    compensable: bool = True,
    max_attempts: int = 3,
    compensation_attempts: int = 3,
    deadline_ms: int | None = None,
    timeout_ms: int = 1000,
) -> StepSpec:
    return StepSpec(
        name=name,
        action=call(f"/{name}", timeout_ms=timeout_ms),
        compensation=call(f"/{name}/undo", compensation=True) if compensable else None,
        retry=RetryPolicy(
            max_attempts=max_attempts, initial_interval_ms=100, multiplier=2, max_interval_ms=1000, jitter=Jitter.NONE
        ),
        compensation_retry=RetryPolicy(max_attempts=compensation_attempts, initial_interval_ms=100, jitter=Jitter.NONE),
        deadline_ms=deadline_ms,
    )


def saga(*steps: StepSpec, deadline_ms: int | None = None) -> SagaSpec:
    return SagaSpec(name="test", version=1, steps=steps, deadline_ms=deadline_ms)


OK = StepOutcome(kind=OutcomeKind.SUCCESS, status_code=200, response=ResponseSnapshot(status=200, body={"id": 1}))
CONFLICT = StepOutcome(kind=OutcomeKind.FATAL, status_code=409, error="HTTP 409: no")
UNAVAILABLE = StepOutcome(kind=OutcomeKind.RETRYABLE, status_code=503, error="HTTP 503")
TIMEOUT = StepOutcome(kind=OutcomeKind.RETRYABLE, effect_unknown=True, error="timed out")
INVALID = StepOutcome(kind=OutcomeKind.INVALID, error="template error")


@dataclass
class Run:
    """One execution driven by hand: feed events, keep every decision."""

    spec: SagaSpec
    now: int = 1_000_000
    decisions: list[Decision] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.decisions.append(begin_execution(self.spec, "exec-1", now_ms=self.now))

    @property
    def state(self) -> ExecutionState:
        return self.decisions[-1].state

    @property
    def last(self) -> Decision:
        return self.decisions[-1]

    def feed(self, event: Event, *, after_ms: int = 10) -> Decision:
        self.now += after_ms
        decision = decide(self.spec, self.state, event, now_ms=self.now)
        self.decisions.append(decision)
        return decision

    def pending_call(self) -> CallStep:
        calls = [a for a in self.last.actions if isinstance(a, CallStep)]
        assert len(calls) == 1, self.last.actions
        return calls[0]

    def answer(self, outcome: StepOutcome, *, after_ms: int = 10) -> Decision:
        c = self.pending_call()
        return self.feed(
            AttemptCompleted(step=c.step, direction=c.direction, attempt=c.attempt, outcome=outcome),
            after_ms=after_ms,
        )

    def history_types(self) -> list[str]:
        return [h.type for d in self.decisions for h in d.history]

    def calls(self) -> list[tuple[str, Direction, int]]:
        return [
            (a.step_name, a.direction, a.attempt) for d in self.decisions for a in d.actions if isinstance(a, CallStep)
        ]
