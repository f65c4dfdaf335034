"""The pure saga state machine: no I/O, no clock, no global randomness.

Everything here is a function of its arguments, so every decision can be replayed from the
persisted history. A test enforces that this package imports only the standard library.
"""

from coordinator.core.actions import Action, ArmWakeup, CallStep, Decision, DisarmWakeup
from coordinator.core.events import (
    AttemptCompleted,
    CallbackReceived,
    CancelRequested,
    Event,
    HeartbeatReceived,
    ResolveRequested,
    Resumed,
    RetryRequested,
    WakeupFired,
)
from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.machine import begin_execution, decide
from coordinator.core.outcome import OutcomeKind, RequestSnapshot, ResponseSnapshot, StepOutcome, TruncatedBody
from coordinator.core.resolve import resolve_problem, step_position
from coordinator.core.retry import Jitter, RetryPolicy
from coordinator.core.spec import AsyncSpec, CallSpec, SagaSpec, StatusPattern, StepSpec
from coordinator.core.state import (
    AttemptExchange,
    CallbackOutcome,
    Direction,
    ExecutionError,
    ExecutionState,
    ExecutionStatus,
    InFlightCall,
    OperatorResolution,
    PendingWait,
    PendingWakeup,
    RecordedCallback,
    StepState,
    StepStatus,
)
from coordinator.core.waiting import CallbackVerdict, callback_verdict

__all__ = [
    "Action",
    "ArmWakeup",
    "AsyncSpec",
    "AttemptCompleted",
    "AttemptExchange",
    "CallSpec",
    "CallStep",
    "CallbackOutcome",
    "CallbackReceived",
    "CallbackVerdict",
    "CancelRequested",
    "Decision",
    "Direction",
    "DisarmWakeup",
    "Event",
    "ExecutionError",
    "ExecutionState",
    "ExecutionStatus",
    "HeartbeatReceived",
    "HistoryEvent",
    "HistoryEventType",
    "InFlightCall",
    "Jitter",
    "OperatorResolution",
    "OutcomeKind",
    "PendingWait",
    "PendingWakeup",
    "RecordedCallback",
    "RequestSnapshot",
    "ResolveRequested",
    "ResponseSnapshot",
    "Resumed",
    "RetryPolicy",
    "RetryRequested",
    "SagaSpec",
    "StatusPattern",
    "StepOutcome",
    "StepSpec",
    "StepState",
    "StepStatus",
    "TruncatedBody",
    "WakeupFired",
    "begin_execution",
    "callback_verdict",
    "decide",
    "resolve_problem",
    "step_position",
]
