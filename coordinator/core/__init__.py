"""The pure saga state machine: no I/O, no clock, no global randomness.

Everything here is a function of its arguments, so every decision can be replayed from the
persisted history. A test enforces that this package imports only the standard library.
"""

from coordinator.core.actions import Action, ArmWakeup, CallStep, Decision, DisarmWakeup
from coordinator.core.events import (
    AttemptCompleted,
    CancelRequested,
    Event,
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
from coordinator.core.spec import CallSpec, SagaSpec, StatusPattern, StepSpec
from coordinator.core.state import (
    AttemptExchange,
    Direction,
    ExecutionError,
    ExecutionState,
    ExecutionStatus,
    InFlightCall,
    OperatorResolution,
    PendingWakeup,
    StepState,
    StepStatus,
)

__all__ = [
    "Action",
    "ArmWakeup",
    "AttemptCompleted",
    "AttemptExchange",
    "CallSpec",
    "CallStep",
    "CancelRequested",
    "Decision",
    "Direction",
    "DisarmWakeup",
    "Event",
    "ExecutionError",
    "ExecutionState",
    "ExecutionStatus",
    "HistoryEvent",
    "HistoryEventType",
    "InFlightCall",
    "Jitter",
    "OperatorResolution",
    "OutcomeKind",
    "PendingWakeup",
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
    "decide",
    "resolve_problem",
    "step_position",
]
