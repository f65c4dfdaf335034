"""What callers ask of executions: start one, cancel it, retry its rollback, wait for its end."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from coordinator.core.events import CancelRequested, ResolveRequested, Resumed, RetryRequested
from coordinator.core.history import HistoryEventType
from coordinator.core.machine import begin_execution
from coordinator.core.pivot import cancel_problem_at
from coordinator.core.resolve import resolve_problem, step_position
from coordinator.core.spec import SagaSpec
from coordinator.core.state import ExecutionError, ExecutionStatus
from coordinator.definition import render_key, spec_secret_problems, validate_input
from coordinator.engine.collaborators import Collaborators
from coordinator.engine.cycle import EventCycle
from coordinator.errors import ExecutionInputInvalid, ExecutionStateConflict, SecretNotSet, StoreUnavailable
from coordinator.ports import ExecutionRecord

log = logging.getLogger("coordinator.engine")


def request_digest(input_: Any, version: int | None) -> str:
    """The fingerprint of a start request, to tell an idempotent replay from a key reuse."""
    canonical = json.dumps({"input": input_, "version": version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def cancel_problem(record: ExecutionRecord, spec: SagaSpec | None = None) -> str | None:
    """Why `record` cannot be cancelled now, or None when it can.

    With the execution's `spec`, the pivot's rules apply too (SPEC section 7.2): past a pivot that
    succeeded a cancel is refused, and a `failed` execution stopped at a pivot whose outcome is
    unknown may be cancelled (its steps before the pivot are rolled back).
    """
    state = record.state
    if record.quarantined:
        return f"execution {state.id} is quarantined; only a running execution can be cancelled"
    if spec is not None:
        return cancel_problem_at(spec, state)
    if state.status.is_terminal:
        return f"execution {state.id} is {state.status.value}; only a running execution can be cancelled"
    return None


def retry_problem(record: ExecutionRecord) -> str | None:
    """Why `record` cannot be retried now (a failed or quarantined execution can), or None."""
    state = record.state
    if record.quarantined or state.status is ExecutionStatus.FAILED:
        return None
    return f"execution {state.id} is {state.status.value}; only a failed execution can be retried"


class Operations:
    """Start, cancel, retry and wait: each checks what the caller may ask, then feeds the event cycle."""

    def __init__(self, parts: Collaborators, cycle: EventCycle) -> None:
        self._parts = parts
        self._cycle = cycle

    async def start(
        self,
        saga: str,
        input_: Any,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        trace_headers: Mapping[str, str] | None = None,
    ) -> tuple[ExecutionRecord, bool]:
        """Start `saga` (latest version unless pinned); return the execution and whether it is new.

        With an `idempotency_key` already used for this saga, the existing execution is returned
        if the request is the same, and IdempotencyConflict raised if it differs. The new
        execution is leased to this process, which drives it.
        """
        parts = self._parts
        definition = await parts.registry.definition(saga, version)
        spec = await parts.registry.spec(definition.name, definition.version)
        problems = validate_input(spec, input_)
        if problems:
            raise ExecutionInputInvalid(f"the input does not match the input_schema of {saga!r}", problems)
        # A secret unset since registration fails here, before any participant call, not halfway.
        missing = spec_secret_problems(spec, lambda name: parts.secrets(name) is not None)
        if missing:
            raise SecretNotSet(f"saga {saga!r} reads secrets that are not set on this coordinator", missing)
        key = render_key(spec, input_)
        decision = begin_execution(spec, str(uuid.uuid4()), now_ms=parts.clock.now_ms())
        record = ExecutionRecord(
            state=decision.state,
            business_key=key,
            input=input_,
            idempotency_key=idempotency_key,
            request_digest=request_digest(input_, version),
            trace_context=parts.traces.new_execution(trace_headers),
        )
        try:
            stored, created = await parts.store.create_execution(
                record, decision.history, owner=parts.ownership.owner_id, lease_ms=parts.ownership.lease_ms
            )
        except StoreUnavailable:
            # The insert may have committed before the answer was lost (a cut connection, a
            # deadline): then the execution is ours, renewed with our other leases, and no sweep
            # would ever claim it. Recovery re-drives it, or finds it never existed.
            self._cycle.stall(record.state.id)
            raise
        if created:
            await self._cycle.begin(stored, spec, decision)
        return stored, created

    async def cancel(self, execution_id: str, reason: str = "cancelled by operator") -> ExecutionRecord:
        """Stop the forward phase and roll back. Raises ExecutionStateConflict when terminal or past the pivot."""
        record = await self._parts.store.load_execution(execution_id)
        spec = await self._parts.registry.spec(record.state.saga, record.state.version)
        problem = cancel_problem(record, spec)
        if problem is not None:
            raise ExecutionStateConflict(problem)
        return await self._cycle.handle(execution_id, CancelRequested(reason=reason), external=True)

    async def retry(self, execution_id: str) -> ExecutionRecord:
        """Try the remaining compensations of a `failed` execution again (or, failed going forward past
        the pivot, its failed steps with a fresh budget); release a quarantined one."""
        store = self._parts.store
        record = await store.load_execution(execution_id)
        problem = retry_problem(record)
        if problem is not None:
            raise ExecutionStateConflict(problem)
        if record.quarantined:
            await store.unquarantine(execution_id)
            log.warning("execution %s released from quarantine by an operator", execution_id)
            return await self._cycle.handle(execution_id, Resumed(), external=True)
        return await self._cycle.handle(execution_id, RetryRequested(), external=True)

    async def resolve(self, execution_id: str, step: str, *, note: str, actor: str | None) -> ExecutionRecord:
        """Record that an operator undid `step` by hand; the rollback carries on with the steps before it.

        Raises ExecutionStateConflict (with the reason) where it does not apply: the execution is not
        `failed`, or that step's compensation did not fail.
        """
        record = await self._parts.store.load_execution(execution_id)
        spec = await self._parts.registry.spec(record.state.saga, record.state.version)
        index = step_position(spec, step)
        problem = resolve_problem(spec, record.state, step)
        if index is None or problem is not None:
            raise ExecutionStateConflict(problem or f"saga {spec.name!r} has no step {step!r}")
        log.warning("execution %s: compensation of %s resolved by hand by %s: %s", execution_id, step, actor, note)
        cause = await self._rollback_cause(execution_id)
        event = ResolveRequested(step=index, note=note, actor=actor, rollback_cause=cause)
        return await self._cycle.handle(execution_id, event, external=True)

    async def _rollback_cause(self, execution_id: str) -> ExecutionError | None:
        """Why the execution's rollback began, as its latest `rollback_started` entry recorded it."""
        cause: ExecutionError | None = None
        after = 0
        while True:
            page = await self._parts.store.list_events(execution_id, after_seq=after, limit=500, exchanges=False)
            for stored in page.items:
                entry = stored.event
                if entry.type is HistoryEventType.ROLLBACK_STARTED:
                    cause = ExecutionError(step=entry.step, message=entry.error or "rolled back")
            if page.next_cursor is None or not page.items:
                return cause
            after = page.items[-1].seq

    async def wait_terminal(self, execution_id: str, timeout_s: float) -> ExecutionRecord:
        """The execution once terminal, or as it stands when `timeout_s` has passed.

        An execution this process drives ends with a notification carrying its record: no load.
        The first look uses the record we last committed when we hold it (it is not terminal,
        or it would not be kept); later looks, once a second, load it: another replica may be
        the one driving it.
        """
        store = self._parts.store
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with self._cycle.waiting(execution_id) as outcome:
            record = self._cycle.last_committed(execution_id) or await store.load_execution(execution_id)
            while True:
                remaining = deadline - loop.time()
                if record.state.status.is_terminal or remaining <= 0:
                    return record
                try:
                    async with asyncio.timeout(min(remaining, 1.0)):
                        ended = await outcome.wait()
                except TimeoutError:
                    ended = None
                record = ended or await store.load_execution(execution_id)

    async def watch(self, execution_id: str, after_revision: int, timeout_s: float) -> ExecutionRecord | None:
        """The execution once it is past `after_revision`, or None when `timeout_s` passes first.

        Costs no query while this process drives the execution: its commits wake the watcher with
        the record. Otherwise one load at the start (another replica may have moved it on); a
        watcher that times out and asks again loads once more, so an idle watch costs one query
        per `timeout_s`, never one per second.
        """
        async with self._cycle.changes(execution_id) as change:
            record = self._cycle.last_committed(execution_id) or await self._parts.store.load_execution(execution_id)
            if record.state.revision > after_revision:
                return record
            try:
                async with asyncio.timeout(timeout_s):
                    changed = await change.wait()
            except TimeoutError:
                return None
            return changed
