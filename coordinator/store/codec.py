"""Domain values <-> table rows, shared by the SQL and in-memory stores.

A row is a plain dict keyed by column name (see `tables.py`). Both stores keep exactly these rows,
so they agree on every detail of serialisation: JSON normalisation, enums as their string values,
and how the pending action is derived from the state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.state import (
    CallbackOutcome,
    Direction,
    ExecutionError,
    ExecutionState,
    ExecutionStatus,
    InFlightCall,
    PendingWait,
    PendingWakeup,
    RecordedCallback,
    StepState,
    StepStatus,
)
from coordinator.ports import ExecutionRecord, StoredDefinition, StoredEvent
from coordinator.store import snapshots

Row = dict[str, Any]
"""Column name -> value, as written to or read from one table."""

UNFINISHED_STATUSES: tuple[str, ...] = tuple(s.value for s in ExecutionStatus if not s.is_terminal)
"""Status values of executions that recovery must resume."""
DELETABLE: tuple[str, ...] = (ExecutionStatus.COMPLETED.value, ExecutionStatus.COMPENSATED.value)
"""What retention may delete: never `failed` (an operator still owes it a retry or a resolve)."""

CALL = "call"
WAKEUP = "wakeup"
MEMBER_CALL = "member_call"
"""A parallel group member's call in flight (several may be pending for one execution)."""
MEMBER_WAKEUP = "member_wakeup"
"""A parallel group member's scheduled retry."""
WAIT = "wait"
"""An asynchronous attempt awaiting its callback (a lone step's or a member's alike)."""


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Built once: `json.dumps` with any non-default option builds a new encoder on every call."""


def dump_json(value: Any) -> str:
    """Canonical-enough JSON text: compact, UTF-8, and strict (NaN and infinities are refused)."""
    return _ENCODER.encode(value)


def load_json(text: str) -> Any:
    """Parse JSON text written by `dump_json`."""
    return json.loads(text)


def definition_row(definition: StoredDefinition) -> Row:
    """The `saga_definitions` row of a definition."""
    return {
        "name": definition.name,
        "version": definition.version,
        "document": dump_json(definition.document),
        "digest": definition.digest,
        "created_at_ms": definition.created_at_ms,
    }


def definition_from_row(row: Mapping[str, Any]) -> StoredDefinition:
    """Rebuild a definition from its row."""
    return StoredDefinition(
        name=row["name"],
        version=row["version"],
        document=load_json(row["document"]),
        digest=row["digest"],
        created_at_ms=row["created_at_ms"],
    )


def execution_row(record: ExecutionRecord) -> Row:
    """The `executions` row of a new execution (immutable columns included)."""
    state = record.state
    return {
        "id": state.id,
        "saga_name": state.saga,
        "saga_version": state.version,
        "input": dump_json(record.input),
        "idempotency_key": record.idempotency_key,
        "request_digest": record.request_digest,
        "trace_context": dump_json(record.trace_context),
        "created_at_ms": state.created_at_ms,
        "owner": record.owner,
        "lease_until_ms": 0,
        "epoch": record.epoch,
        "recovery_attempts": 0,
        "quarantined": record.quarantined,
        "business_key": record.business_key,
        **execution_changes(state, state.revision),
    }


def execution_changes(state: ExecutionState, revision: int) -> Row:
    """The `executions` columns a commit may change, with the new revision."""
    return {
        "status": state.status.value,
        "deadline_at_ms": state.deadline_at_ms,
        "cancel_reason": state.cancel_reason,
        "error_step": state.error.step if state.error else None,
        "error_message": state.error.message if state.error else None,
        "error_direction": state.error.direction.value if state.error and state.error.direction else None,
        "revision": revision,
        "updated_at_ms": state.updated_at_ms,
        "finished_at_ms": state.finished_at_ms,
        "attention_at_ms": state.attention_at_ms,
        # A commit is news: whether the execution needs attention is judged (and warned of) afresh.
        "attention_noted": False,
    }


def step_row(execution_id: str, idx: int, step: StepState) -> Row:
    """The `execution_steps` row of step `idx`."""
    return {
        "execution_id": execution_id,
        "idx": idx,
        "name": step.name,
        "status": step.status.value,
        "attempts": step.attempts,
        "compensation_attempts": step.compensation_attempts,
        "compensation_budget_base": step.compensation_budget_base,
        "attempt_budget_base": step.attempt_budget_base,
        "effect_possible": step.effect_possible,
        "last_error": step.last_error,
        "last_status_code": step.last_status_code,
        "started_at_ms": step.started_at_ms,
        "finished_at_ms": step.finished_at_ms,
        "deadline_at_ms": step.deadline_at_ms,
        "response": snapshots.response_json(step.response),
        "last_exchange": snapshots.exchange_json(step.last_exchange),
        "resolution": snapshots.resolution_json(step.resolution),
        "callbacks": _callbacks_json(step.callbacks),
    }


BRIEF_STEP_OMITS = frozenset({"response", "last_exchange"})
"""The step columns a brief record leaves out: what a participant said, most of a step row's bytes."""


def brief_step_row(row: Mapping[str, Any]) -> Row:
    """A step row as a brief list reads it: without `BRIEF_STEP_OMITS`."""
    return {name: value for name, value in row.items() if name not in BRIEF_STEP_OMITS}


def _callbacks_json(callbacks: tuple[RecordedCallback, ...]) -> str | None:
    if not callbacks:
        return None
    return dump_json(
        [{"direction": c.direction.value, "attempt": c.attempt, "outcome": c.outcome.value} for c in callbacks]
    )


def _callbacks_from_json(text: str | None) -> tuple[RecordedCallback, ...]:
    if not text:
        return ()
    return tuple(
        RecordedCallback(
            direction=Direction(item["direction"]),
            attempt=int(item["attempt"]),
            outcome=CallbackOutcome(item["outcome"]),
        )
        for item in load_json(text)
    )


def step_rows(state: ExecutionState) -> list[Row]:
    """Every step row of a state, in step order."""
    return [step_row(state.id, idx, step) for idx, step in enumerate(state.steps)]


def event_rows(execution_id: str, first_seq: int, history: Iterable[HistoryEvent]) -> list[Row]:
    """`execution_events` rows numbered consecutively from `first_seq`."""
    return [
        {
            "execution_id": execution_id,
            "seq": seq,
            "type": event.type,
            "at_ms": event.at_ms,
            "step": event.step,
            "direction": None if event.direction is None else event.direction.value,
            "attempt": event.attempt,
            "status_code": event.status_code,
            "error": event.error,
            "delay_ms": event.delay_ms,
            "duration_ms": event.duration_ms,
            "outcome": event.outcome,
            "request": snapshots.request_json(event.request),
            "response": snapshots.response_json(event.response),
            "note": event.note,
            "actor": event.actor,
        }
        for seq, event in enumerate(history, start=first_seq)
    ]


def pending_rows(state: ExecutionState) -> list[Row]:
    """The `pending_actions` rows the state implies: one per call in flight and per wake-up.

    A call's `due_at_ms` is when its attempt times out and its `created_at_ms` is when it started;
    a wake-up's `created_at_ms` is when it was scheduled (the state's `updated_at_ms`). A group
    member's rows are of kind `member_call` / `member_wakeup`, so a load puts them back beside
    their siblings' rather than in the lone step's slot.

    Raises:
        ValueError: one step has both a call in flight and a wake-up in one direction (the
            machine never does).
    """
    rows: list[Row] = []
    for call in state.calls:
        rows.append(
            {
                "execution_id": state.id,
                "kind": CALL if call is state.in_flight else MEMBER_CALL,
                "step": call.step,
                "direction": call.direction.value,
                "attempt": call.attempt,
                "timeout_ms": call.timeout_ms,
                "due_at_ms": call.started_at_ms + call.timeout_ms,
                "created_at_ms": call.started_at_ms,
            }
        )
    for wakeup in state.wakeups:
        rows.append(
            {
                "execution_id": state.id,
                "kind": WAKEUP if wakeup is state.wakeup else MEMBER_WAKEUP,
                "step": wakeup.step,
                "direction": wakeup.direction.value,
                "attempt": wakeup.attempt,
                "timeout_ms": None,
                "due_at_ms": wakeup.due_at_ms,
                "created_at_ms": state.updated_at_ms,
            }
        )
    for wait in state.waits:
        rows.append(
            {
                "execution_id": state.id,
                "kind": WAIT,
                "step": wait.step,
                "direction": wait.direction.value,
                "attempt": wait.attempt,
                "timeout_ms": wait.timeout_at_ms - wait.since_ms,
                "due_at_ms": wait.due_at_ms,
                "created_at_ms": wait.since_ms,
            }
        )
    keys = [(row["step"], row["direction"]) for row in rows]
    if len(set(keys)) != len(keys):
        raise ValueError(f"execution {state.id!r} has both a call in flight and a wake-up (or a wait) for one step")
    return rows


def _step_from_row(row: Mapping[str, Any]) -> StepState:
    return StepState(
        name=row["name"],
        status=StepStatus(row["status"]),
        attempts=row["attempts"],
        compensation_attempts=row["compensation_attempts"],
        compensation_budget_base=row["compensation_budget_base"],
        attempt_budget_base=row.get("attempt_budget_base") or 0,
        effect_possible=bool(row["effect_possible"]),
        last_error=row["last_error"],
        last_status_code=row["last_status_code"],
        started_at_ms=row["started_at_ms"],
        finished_at_ms=row["finished_at_ms"],
        deadline_at_ms=row["deadline_at_ms"],
        response=snapshots.response_from_json(row.get("response")),
        last_exchange=snapshots.exchange_from_json(row.get("last_exchange")),
        resolution=snapshots.resolution_from_json(row.get("resolution")),
        callbacks=_callbacks_from_json(row.get("callbacks")),
    )


@dataclass(frozen=True, slots=True)
class _Pending:
    in_flight: InFlightCall | None = None
    wakeup: PendingWakeup | None = None
    member_calls: tuple[InFlightCall, ...] = ()
    member_wakeups: tuple[PendingWakeup, ...] = ()
    waits: tuple[PendingWait, ...] = ()


def _pending_from_rows(rows: Iterable[Mapping[str, Any]]) -> _Pending:
    in_flight: InFlightCall | None = None
    wakeup: PendingWakeup | None = None
    member_calls: list[InFlightCall] = []
    member_wakeups: list[PendingWakeup] = []
    waits: list[PendingWait] = []
    # Step order: the order the machine put the members in does not survive a database.
    for row in sorted(rows, key=lambda r: (int(r["step"]), str(r["direction"]))):
        direction = Direction(row["direction"])
        kind = row["kind"]
        if kind in (CALL, MEMBER_CALL):
            call = InFlightCall(
                step=row["step"],
                direction=direction,
                attempt=row["attempt"],
                timeout_ms=row["timeout_ms"],
                started_at_ms=row["created_at_ms"],
            )
            if kind == CALL:
                in_flight = call
            else:
                member_calls.append(call)
        elif kind in (WAKEUP, MEMBER_WAKEUP):
            due = PendingWakeup(
                step=row["step"], direction=direction, attempt=row["attempt"], due_at_ms=row["due_at_ms"]
            )
            if kind == WAKEUP:
                wakeup = due
            else:
                member_wakeups.append(due)
        elif kind == WAIT:
            since = row["created_at_ms"]
            waits.append(
                PendingWait(
                    step=row["step"],
                    direction=direction,
                    attempt=row["attempt"],
                    since_ms=since,
                    timeout_at_ms=since + (row["timeout_ms"] or 0),
                    due_at_ms=row["due_at_ms"],
                )
            )
        else:
            raise ValueError(f"unknown pending action kind {kind!r}")
    return _Pending(in_flight, wakeup, tuple(member_calls), tuple(member_wakeups), tuple(waits))


def record_from_rows(
    execution: Mapping[str, Any], steps: Iterable[Mapping[str, Any]], pending: Iterable[Mapping[str, Any]]
) -> ExecutionRecord:
    """Rebuild an execution from its row, its step rows and its pending action rows (any order)."""
    ordered = sorted(steps, key=lambda r: int(r["idx"]))
    outstanding = _pending_from_rows(pending)
    message = execution["error_message"]
    direction = execution.get("error_direction")
    state = ExecutionState(
        id=execution["id"],
        saga=execution["saga_name"],
        version=execution["saga_version"],
        status=ExecutionStatus(execution["status"]),
        steps=tuple(_step_from_row(r) for r in ordered),
        created_at_ms=execution["created_at_ms"],
        updated_at_ms=execution["updated_at_ms"],
        deadline_at_ms=execution["deadline_at_ms"],
        in_flight=outstanding.in_flight,
        wakeup=outstanding.wakeup,
        member_calls=outstanding.member_calls,
        member_wakeups=outstanding.member_wakeups,
        waits=outstanding.waits,
        cancel_reason=execution["cancel_reason"],
        error=None
        if message is None
        else ExecutionError(
            step=execution["error_step"], message=message, direction=None if direction is None else Direction(direction)
        ),
        revision=execution["revision"],
        finished_at_ms=execution.get("finished_at_ms"),
        attention_at_ms=execution.get("attention_at_ms"),
    )
    return ExecutionRecord(
        state=state,
        input=load_json(execution["input"]),
        idempotency_key=execution["idempotency_key"],
        request_digest=execution["request_digest"],
        trace_context=load_json(execution["trace_context"]),
        owner=execution.get("owner"),
        epoch=execution.get("epoch") or 0,
        quarantined=execution.get("quarantined"),
        business_key=execution.get("business_key"),
    )


def as_stored(record: ExecutionRecord) -> ExecutionRecord:
    """The record exactly as a load will return it (JSON values normalised), without a load."""
    state = record.state
    return record_from_rows(execution_row(record), step_rows(state), pending_rows(state))


OUTLINE_COLUMNS = (
    "seq", "type", "at_ms", "step", "direction", "attempt", "status_code", "error", "delay_ms", "duration_ms",
    "outcome", "note", "actor",
)  # fmt: skip
"""A history row's columns but what was said, in the order `event_outline` takes them."""


def event_outline(values: Sequence[Any]) -> StoredEvent:
    """A history entry without its request and response, from its OUTLINE_COLUMNS in order.

    Unpacked by position, not looked up by name: a long execution's page reads thousands of these,
    and building a dict per row then reading it back was most of that read's time.
    """
    seq, type_, at_ms, step, direction, attempt, status, error, delay_ms, duration_ms, outcome, note, actor = values
    event = HistoryEvent(
        type=_EVENT_TYPES.get(type_) or HistoryEventType(type_),
        at_ms=at_ms,
        step=step,
        direction=_DIRECTIONS[direction] if direction in _DIRECTIONS else Direction(direction),
        attempt=attempt,
        status_code=status,
        error=error,
        delay_ms=delay_ms,
        duration_ms=duration_ms,
        outcome=outcome,
        note=note,
        actor=actor,
    )
    return StoredEvent(seq=seq, event=event)


_EVENT_TYPES = {member.value: member for member in HistoryEventType}
_DIRECTIONS: dict[str | None, Direction | None] = {None: None, **{member.value: member for member in Direction}}
"""Enum members by value: a dict lookup, where calling the enum was a fifth of reading a long history."""


def event_from_row(row: Mapping[str, Any]) -> StoredEvent:
    """Rebuild a history entry from its row."""
    direction = row["direction"]
    event = HistoryEvent(
        type=_EVENT_TYPES.get(row["type"]) or HistoryEventType(row["type"]),
        at_ms=row["at_ms"],
        step=row["step"],
        direction=_DIRECTIONS[direction] if direction in _DIRECTIONS else Direction(direction),
        attempt=row["attempt"],
        status_code=row["status_code"],
        error=row["error"],
        delay_ms=row["delay_ms"],
        duration_ms=row["duration_ms"],
        outcome=row["outcome"],
        request=snapshots.request_from_json(row.get("request")),
        response=snapshots.response_from_json(row.get("response")),
        note=row.get("note"),
        actor=row.get("actor"),
    )
    return StoredEvent(seq=row["seq"], event=event)
