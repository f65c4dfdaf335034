"""The engine: per event, load -> decide -> commit -> dispatch."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from coordinator.core.events import CancelRequested, Event, Resumed, RetryRequested
from coordinator.core.machine import begin_execution, decide
from coordinator.core.state import ExecutionStatus
from coordinator.definition import validate_input
from coordinator.engine.dispatch import Dispatcher
from coordinator.engine.locks import KeyedLocks
from coordinator.engine.registry import DefinitionRegistry
from coordinator.engine.secrets import SecretSource
from coordinator.errors import ExecutionInputInvalid, ExecutionStateConflict, StaleRevision
from coordinator.ports import (
    Clock,
    ExecutionObserver,
    ExecutionRecord,
    NullObserver,
    SagaStore,
    StepExecutor,
    TimerService,
)
from coordinator.telemetry import new_trace_context

log = logging.getLogger("coordinator.engine")

_STALE_RETRIES = 5


def request_digest(input_: Any, version: int | None) -> str:
    """The fingerprint of a start request, to tell an idempotent replay from a key reuse."""
    canonical = json.dumps({"input": input_, "version": version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Engine:
    """Drives executions. One instance per process; every collaborator is injected."""

    def __init__(
        self,
        *,
        store: SagaStore,
        registry: DefinitionRegistry,
        executor: StepExecutor,
        timers: TimerService,
        clock: Clock,
        secrets: SecretSource,
        observer: ExecutionObserver | None = None,
    ) -> None:
        self.store = store
        self.observer: ExecutionObserver = observer or NullObserver()
        self.registry = registry
        self._clock = clock
        self._timers = timers
        self._locks = KeyedLocks()
        self._terminal: dict[str, asyncio.Event] = {}
        self._dispatcher = Dispatcher(executor=executor, timers=timers, secrets=secrets, sink=self.handle)

    async def start_execution(
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
        if the request is the same, and IdempotencyConflict raised if it differs.
        """
        definition = await self.registry.definition(saga, version)
        spec = await self.registry.spec(definition.name, definition.version)
        problems = validate_input(spec, input_)
        if problems:
            raise ExecutionInputInvalid(f"the input does not match the input_schema of {saga!r}", problems)
        decision = begin_execution(spec, str(uuid.uuid4()), now_ms=self._clock.now_ms())
        record = ExecutionRecord(
            state=decision.state,
            input=input_,
            idempotency_key=idempotency_key,
            request_digest=request_digest(input_, version),
            trace_context=new_trace_context(trace_headers),
        )
        stored, created = await self.store.create_execution(record, decision.history)
        if created:
            await self.observer.committed(stored, decision.history)
            self._dispatcher.dispatch(stored, spec, decision.actions)
        return stored, created

    async def handle(self, execution_id: str, event: Event) -> ExecutionRecord:
        """Apply one event: load, decide, commit, then dispatch the actions."""
        async with self._locks.hold(execution_id):
            for _ in range(_STALE_RETRIES):
                record = await self.store.load_execution(execution_id)
                spec = await self.registry.spec(record.state.saga, record.state.version)
                decision = decide(spec, record.state, event, now_ms=self._clock.now_ms())
                if decision.changed:
                    try:
                        state = await self.store.commit(
                            decision.state, decision.history, expected_revision=record.state.revision
                        )
                    except StaleRevision:
                        continue  # another writer won; decide again on what it wrote
                    record = ExecutionRecord(
                        state=state,
                        input=record.input,
                        idempotency_key=record.idempotency_key,
                        request_digest=record.request_digest,
                        trace_context=record.trace_context,
                    )
                    self._after_commit(record)
                    await self.observer.committed(record, decision.history)
                self._dispatcher.dispatch(record, spec, decision.actions)
                return record
            raise StaleRevision(f"execution {execution_id} kept changing under this coordinator")

    def _after_commit(self, record: ExecutionRecord) -> None:
        state = record.state
        if state.status.is_terminal:
            waiter = self._terminal.pop(state.id, None)
            if waiter is not None:
                waiter.set()

    async def cancel(self, execution_id: str, reason: str = "cancelled by operator") -> ExecutionRecord:
        """Stop the forward phase and roll back. Raises ExecutionStateConflict when terminal."""
        record = await self.store.load_execution(execution_id)
        if record.state.status.is_terminal:
            raise ExecutionStateConflict(
                f"execution {execution_id} is {record.state.status.value}; only a running execution can be cancelled"
            )
        return await self.handle(execution_id, CancelRequested(reason=reason))

    async def retry(self, execution_id: str) -> ExecutionRecord:
        """Try the remaining compensations of a `failed` execution again."""
        record = await self.store.load_execution(execution_id)
        if record.state.status is not ExecutionStatus.FAILED:
            raise ExecutionStateConflict(
                f"execution {execution_id} is {record.state.status.value}; only a failed execution can be retried"
            )
        return await self.handle(execution_id, RetryRequested())

    async def wait_terminal(self, execution_id: str, timeout_s: float) -> ExecutionRecord:
        """The execution once terminal, or as it stands when `timeout_s` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            waiter = self._terminal.setdefault(execution_id, asyncio.Event())
            record = await self.store.load_execution(execution_id)
            remaining = deadline - loop.time()
            if record.state.status.is_terminal or remaining <= 0:
                return record
            # Re-check now and then: another replica may be the one driving it.
            try:
                async with asyncio.timeout(min(remaining, 1.0)):
                    await waiter.wait()
            except TimeoutError:
                pass

    def start(self) -> None:
        """Begin firing wake-ups."""
        self._timers.start()

    async def recover(self) -> int:
        """Resume every unfinished execution: re-send calls in flight, re-arm wake-ups."""
        ids = await self.store.unfinished_execution_ids()
        for execution_id in ids:
            try:
                record = await self.handle(execution_id, Resumed())
                if not record.state.status.is_terminal:
                    self.observer.resumed(record)
            except Exception:
                log.exception("could not resume execution %s", execution_id)
        if ids:
            log.info("resumed %d unfinished execution(s)", len(ids))
        return len(ids)

    @property
    def wakeups_pending(self) -> int:
        """Scheduled retries armed right now."""
        return self._timers.pending()

    @property
    def calls_in_flight(self) -> int:
        """Participant calls being sent right now."""
        return self._dispatcher.in_flight

    async def close(self) -> None:
        """Stop timers and outstanding calls (they are resumed by the next start)."""
        self._timers.shutdown()
        await self._dispatcher.close()
