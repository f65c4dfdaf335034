"""The engine: per event, load -> decide -> commit -> dispatch."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from coordinator.core.events import AttemptCompleted, CancelRequested, Event, Resumed, RetryRequested, WakeupFired
from coordinator.core.machine import begin_execution, decide
from coordinator.core.state import ExecutionStatus
from coordinator.definition import validate_input
from coordinator.engine.dispatch import Dispatcher
from coordinator.engine.faults import NO_FAULTS, FaultPoints
from coordinator.engine.locks import KeyedLocks, TerminalWaiters
from coordinator.engine.ownership import Ownership
from coordinator.engine.registry import DefinitionRegistry
from coordinator.engine.secrets import SecretSource
from coordinator.errors import ExecutionInputInvalid, ExecutionStateConflict, Fenced, StaleRevision, StoreUnavailable
from coordinator.ports import (
    Claim,
    Clock,
    ExecutionObserver,
    ExecutionRecord,
    Lease,
    NullObserver,
    SagaStore,
    StepExecutor,
    TimerService,
)
from coordinator.telemetry import new_trace_context

log = logging.getLogger("coordinator.engine")

_STALE_RETRIES = 5
_CLAIM_BATCH = 500
_RESUME_CONCURRENCY = 64
"""Executions resumed at once by a recovery (their re-sent calls are further bounded by max_calls)."""
_RECENT_RECORDS = 10_000


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
        ownership: Ownership | None = None,
        faults: FaultPoints = NO_FAULTS,
        max_recovery_attempts: int = 5,
        max_calls: int = 200,
    ) -> None:
        self.store = store
        self.observer: ExecutionObserver = observer or NullObserver()
        self.registry = registry
        self.ownership = ownership or Ownership(lease_ms=15_000)
        self._clock = clock
        self._timers = timers
        self._faults = faults
        self._max_recovery_attempts = max_recovery_attempts
        self._locks = KeyedLocks()
        self._waiters: TerminalWaiters[ExecutionRecord] = TerminalWaiters()
        self._stalled: set[str] = set()
        self._records: dict[str, ExecutionRecord] = {}
        self._recovery: asyncio.Task[None] | None = None
        self._dispatcher = Dispatcher(
            executor=executor,
            timers=timers,
            secrets=secrets,
            sink=self.handle,
            may_send=self.ownership.may_send,
            on_stall=self._stalled.add,
            faults=faults,
            coordinator_id=self.ownership.owner_id,
            max_calls=max_calls,
        )

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
        if the request is the same, and IdempotencyConflict raised if it differs. The new
        execution is leased to this process, which drives it.
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
        stored, created = await self.store.create_execution(
            record, decision.history, owner=self.ownership.owner_id, lease_ms=self.ownership.lease_ms
        )
        if created:
            self._remember(stored, self.ownership.lease_of(stored))
            self._faults.hit("after_create", execution_id=stored.state.id, saga=spec.name)
            await self.observer.committed(stored, decision.history)
            self._dispatcher.dispatch(stored, spec, decision.actions)
        return stored, created

    async def handle(self, execution_id: str, event: Event, *, external: bool = False) -> ExecutionRecord:
        """Apply one event: load, decide, commit (fenced by our lease), then dispatch the actions.

        Internal events (outcomes, wake-ups, resumes) are applied only by the execution's owner:
        elsewhere they are stale and dropped. External ones (operator cancel and retry, from any
        replica) take ownership when no call is in flight, else are committed for the owner.
        """
        async with self._locks.hold(execution_id):
            for _ in range(_STALE_RETRIES):
                record = self._recent(execution_id, event, external) or await self.store.load_execution(execution_id)
                lease = await self._lease_for(record, external)
                if lease is None and not external:
                    # Not ours (any more): a late outcome or wake-up of a process that lost the lease.
                    log.warning(
                        "stale %s for execution %s dropped: it is owned by %s at epoch %d",
                        type(event).__name__, execution_id, record.owner, record.epoch,
                    )
                    return record
                if lease is not None and lease.epoch != record.epoch:
                    record = await self.store.load_execution(execution_id)
                self._faults.hit("load", execution_id=execution_id, saga=record.state.saga)
                spec = await self.registry.spec(record.state.saga, record.state.version)
                decision = decide(spec, record.state, event, now_ms=self._clock.now_ms())
                if decision.changed:
                    self._faults.hit("before_commit", execution_id=execution_id, saga=spec.name)
                    try:
                        state = await self.store.commit(
                            decision.state,
                            decision.history,
                            expected_revision=record.state.revision,
                            lease=lease,
                            previous=record.state,
                        )
                    except Fenced as fenced:
                        self._records.pop(execution_id, None)
                        log.warning("fenced write dropped for execution %s: %s", execution_id, fenced)
                        return record
                    except StaleRevision:
                        self._records.pop(execution_id, None)
                        continue  # another writer won; decide again on what it wrote
                    record = replace(record, state=state)
                    self._remember(record, lease)
                    self._faults.hit("after_commit", execution_id=execution_id, saga=spec.name)
                    await self.observer.committed(record, decision.history)
                    # After the observer: whoever waits for the end sees its trace already emitted.
                    self._after_commit(record)
                if lease is not None:
                    self._dispatcher.dispatch(record, spec, decision.actions)
                elif decision.actions:
                    # Committed for the owner, which re-drives it on its next sweep.
                    self._stalled.add(execution_id)
                return record
            raise StaleRevision(f"execution {execution_id} kept changing under this coordinator")

    def _recent(self, execution_id: str, event: Event, external: bool) -> ExecutionRecord | None:
        """The record as this process last committed it, for its own outcomes and wake-ups.

        Saves a load per event on the hot path. It is safe because every commit is a
        compare-and-set on the revision and the lease: if anyone else wrote since, the commit
        fails, the entry is dropped and the event is decided again on a fresh load.
        """
        if external or not isinstance(event, AttemptCompleted | WakeupFired):
            return None
        return self._records.get(execution_id)

    def _remember(self, record: ExecutionRecord, lease: Lease | None) -> None:
        execution_id = record.state.id
        self._records.pop(execution_id, None)
        if lease is None or record.state.status.is_terminal:
            return
        self._records[execution_id] = record
        if len(self._records) > _RECENT_RECORDS:
            del self._records[next(iter(self._records))]  # the oldest: bounded memory

    async def _lease_for(self, record: ExecutionRecord, external: bool) -> Lease | None:
        lease = self.ownership.lease_of(record)
        if lease is not None or not external or record.state.in_flight is not None:
            return lease
        # No call in flight anywhere: taking the execution over cannot overlap two attempts.
        claims = await self.store.claim(
            self.ownership.owner_id, lease_ms=self.ownership.lease_ms, limit=1, ids=[record.state.id], force=True
        )
        return Lease(owner=self.ownership.owner_id, epoch=claims[0].epoch) if claims else None

    def _after_commit(self, record: ExecutionRecord) -> None:
        if record.state.status.is_terminal:
            self._waiters.notify(record.state.id, record)

    async def cancel(self, execution_id: str, reason: str = "cancelled by operator") -> ExecutionRecord:
        """Stop the forward phase and roll back. Raises ExecutionStateConflict when terminal."""
        record = await self.store.load_execution(execution_id)
        if record.state.status.is_terminal or record.quarantined:
            why = "quarantined" if record.quarantined else record.state.status.value
            raise ExecutionStateConflict(
                f"execution {execution_id} is {why}; only a running execution can be cancelled"
            )
        return await self.handle(execution_id, CancelRequested(reason=reason), external=True)

    async def retry(self, execution_id: str) -> ExecutionRecord:
        """Try the remaining compensations of a `failed` execution again; release a quarantined one."""
        record = await self.store.load_execution(execution_id)
        if record.quarantined:
            await self.store.unquarantine(execution_id)
            log.warning("execution %s released from quarantine by an operator", execution_id)
            return await self.handle(execution_id, Resumed(), external=True)
        if record.state.status is not ExecutionStatus.FAILED:
            raise ExecutionStateConflict(
                f"execution {execution_id} is {record.state.status.value}; only a failed execution can be retried"
            )
        return await self.handle(execution_id, RetryRequested(), external=True)

    async def wait_terminal(self, execution_id: str, timeout_s: float) -> ExecutionRecord:
        """The execution once terminal, or as it stands when `timeout_s` has passed.

        An execution this process drives ends with a notification carrying its record: no load.
        The first look uses the record we last committed when we hold it (it is not terminal,
        or it would not be kept); later looks, once a second, load it: another replica may be
        the one driving it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        async with self._waiters.hold(execution_id) as outcome:
            record = self._records.get(execution_id) or await self.store.load_execution(execution_id)
            while True:
                remaining = deadline - loop.time()
                if record.state.status.is_terminal or remaining <= 0:
                    return record
                try:
                    async with asyncio.timeout(min(remaining, 1.0)):
                        ended = await outcome.wait()
                except TimeoutError:
                    ended = None
                record = ended or await self.store.load_execution(execution_id)

    def start(self, *, sweep_seconds: float, take_over_all: bool = False) -> None:
        """Begin firing wake-ups, renewing our leases, sweeping for expired ones, and recovering.

        Renewal is its own job so a long takeover sweep never delays it past our leases. Recovery
        of what a previous process left unfinished runs in the background: the API serves
        meanwhile. `take_over_all` claims even live leases: right for SQLite, where one process
        owns the file, so any lease on it belonged to a process that is gone.
        """
        self.ownership.renewed()
        self._timers.every("lease-renew", sweep_seconds, self.renew)
        self._timers.every("lease-sweep", sweep_seconds, self.sweep)
        self._timers.start()
        self._recovery = asyncio.create_task(self._recover_at_start(take_over_all), name="recovery")

    async def _recover_at_start(self, take_all: bool) -> None:
        try:
            await self.recover(take_all=take_all)
        except Exception:
            log.exception("recovery at start failed; the periodic sweep takes over expired leases")

    async def renew(self) -> None:
        """Extend every lease we hold."""
        try:
            await self.store.renew(self.ownership.owner_id, lease_ms=self.ownership.lease_ms)
            self.ownership.renewed()
        except Exception as error:
            log.warning("lease renewal failed; calls pause once the leases may lapse: %s", error)

    async def recover(self, *, take_all: bool = False) -> int:
        """Claim unfinished executions of other (gone) owners and resume them: re-send calls, re-arm wake-ups.

        `take_all` claims even live leases (never our own). Executions whose last resumption
        made no progress (it may have crashed the process) are resumed one at a time, so a crash
        counts against the execution that caused it alone; the others resume concurrently, a
        bounded number at a time, so their writes share group commits.
        """
        total = 0
        slots = asyncio.Semaphore(_RESUME_CONCURRENCY)

        async def take_over(claim: Claim) -> None:
            async with slots:
                await self._take_over(claim)

        while True:
            claims = await self.store.claim(
                self.ownership.owner_id, lease_ms=self.ownership.lease_ms, limit=_CLAIM_BATCH, force=take_all
            )
            await asyncio.gather(*(take_over(claim) for claim in claims if not claim.recovery_attempts))
            for claim in claims:
                if claim.recovery_attempts:
                    await self._take_over(claim)
            total += len(claims)
            if len(claims) < _CLAIM_BATCH:
                break
        if total:
            log.info("took over %d unfinished execution(s)", total)
        return total

    async def sweep(self) -> None:
        """Take over expired leases of other processes, and re-drive our executions that stalled."""
        try:
            if self._recovery is None or self._recovery.done():  # else the recovery at start claims them
                await self.recover()
            # The set itself is shared with the dispatcher (its on_stall): empty it, never replace it.
            stalled = list(self._stalled)
            self._stalled.clear()
            for execution_id in stalled:
                await self._redrive(execution_id)
        except StoreUnavailable as error:
            log.warning("sweep skipped, the database is unavailable: %s", error)
        except Exception:
            log.exception("sweep failed; the next one retries")

    async def _redrive(self, execution_id: str) -> None:
        """Resume one stalled execution; if the database fails again, it stays stalled for the next sweep."""
        try:
            await self.handle(execution_id, Resumed())
        except Exception:
            self._stalled.add(execution_id)
            log.warning("execution %s is still stalled; the next sweep retries", execution_id, exc_info=True)

    async def _take_over(self, claim: Claim) -> None:
        """Resume one claimed execution; if that fails, it is ours and stalled: the sweep re-drives it.

        Never raises: an execution we claimed but could not resume must not be forgotten (our own
        lease is renewed, so no claim would ever pick it up again).
        """
        try:
            # Counted just before driving it, not at claim time: if it takes the process down, only
            # the executions being resumed at that moment are counted, not the whole claimed batch.
            attempts = await self.store.note_recovery(claim.execution_id)
            if attempts > self._max_recovery_attempts:
                reason = (
                    f"quarantined after {attempts - 1} resumptions without progress "
                    "(it may crash the coordinator); POST .../retry releases it"
                )
                await self.store.quarantine(claim.execution_id, reason)
                log.error("execution %s %s", claim.execution_id, reason)
                return
            record = await self.handle(claim.execution_id, Resumed())
        except Exception:
            self._stalled.add(claim.execution_id)
            log.exception("could not resume execution %s; the next sweep retries", claim.execution_id)
            return
        if not record.state.status.is_terminal:
            self.observer.resumed(record)

    @property
    def wakeups_pending(self) -> int:
        """Scheduled retries armed right now."""
        return self._timers.pending()

    @property
    def calls_in_flight(self) -> int:
        """Participant calls being sent right now."""
        return self._dispatcher.in_flight

    async def close(self, grace_s: float = 0.0) -> None:
        """Shut down: claim nothing more, let calls in flight finish (up to `grace_s`), hand leases back.

        Timers stop first (no sweep claims work, no retry fires); the calls in flight finish and
        their outcomes are committed; follow-up calls are not started; then our leases are released
        so another replica, or the next start, takes the executions over at once.
        """
        self._timers.shutdown()
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
        await self._dispatcher.close(grace_s)
        try:
            await self.store.release(self.ownership.owner_id)
        except Exception:
            log.warning("could not release leases; they expire on their own", exc_info=True)
