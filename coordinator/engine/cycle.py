"""The event cycle: per event, load -> decide -> commit (fenced by our lease) -> dispatch."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from coordinator.core.actions import Decision
from coordinator.core.events import AttemptCompleted, Event, Resumed, WakeupFired
from coordinator.core.machine import decide, wakeups_to_arm
from coordinator.core.spec import SagaSpec
from coordinator.engine.changes import CommitSignals
from coordinator.engine.collaborators import Collaborators
from coordinator.engine.dispatch import Dispatcher
from coordinator.engine.locks import KeyedLocks, Outcome, TerminalWaiters
from coordinator.errors import Fenced, StaleRevision
from coordinator.ports import ExecutionRecord, Lease

log = logging.getLogger("coordinator.engine")

_STALE_RETRIES = 5
_RECENT_RECORDS = 10_000


class EventCycle:
    """Applies events to executions one at a time per execution, and keeps what the cycle learns.

    It remembers the record it last committed per execution it drives (saving a load per event),
    wakes whoever waits for an execution to end, and keeps the ids of executions whose pending
    action could not be carried out (stalled) until recovery re-drives them.
    """

    def __init__(self, parts: Collaborators) -> None:
        self._parts = parts
        self._locks = KeyedLocks()
        self._waiters: TerminalWaiters[ExecutionRecord] = TerminalWaiters()
        self._changes: CommitSignals[ExecutionRecord] = CommitSignals()
        self._stalled: set[str] = set()
        self._records: dict[str, ExecutionRecord] = {}
        self._dispatcher = Dispatcher(parts, sink=self.handle, on_stall=self.stall)

    async def begin(self, record: ExecutionRecord, spec: SagaSpec, decision: Decision) -> None:
        """A new execution was just stored, leased to us: observe its first decision and dispatch it."""
        self._remember(record, self._parts.ownership.lease_of(record))
        self._parts.faults.hit("after_create", execution_id=record.state.id, saga=spec.name)
        await self._parts.observer.committed(record, decision.history, spec=spec)
        self._dispatcher.dispatch(record, spec, decision.actions)

    async def handle(
        self, execution_id: str, event: Event, *, external: bool = False, loaded: ExecutionRecord | None = None
    ) -> ExecutionRecord:
        """Apply one event: load, decide, commit (fenced by our lease), then dispatch the actions.

        Internal events (outcomes, wake-ups, resumes) are applied only by the execution's owner:
        elsewhere they are stale and dropped. External ones (operator cancel and retry, from any
        replica) take ownership when no call is in flight, else are committed for the owner.
        `loaded` is the execution as just read by the caller (a recovery loads its claims in
        batches): decided on first instead of a load; a stale one only costs a failed compare-and-set.
        """
        parts = self._parts
        async with self._locks.hold(execution_id):
            if isinstance(event, Resumed):
                # Taken under the lock: a call whose outcome is not applied yet cannot finish unseen.
                event = replace(event, sending=self._dispatcher.sending(execution_id))
            for _ in range(_STALE_RETRIES):
                remembered = None if loaded is not None else self._recent(execution_id, event, external)
                record = loaded or remembered or await parts.store.load_execution(execution_id)
                loaded = None
                lease = await self._lease_for(record, external)
                if lease is None and not external:
                    # Not ours (any more): a late outcome or wake-up of a process that lost the lease.
                    log.warning(
                        "stale %s for execution %s dropped: it is owned by %s at epoch %d",
                        type(event).__name__,
                        execution_id,
                        record.owner,
                        record.epoch,
                    )
                    return record
                if lease is not None and lease.epoch != record.epoch:
                    record = await parts.store.load_execution(execution_id)
                parts.faults.hit("load", execution_id=execution_id, saga=record.state.saga)
                spec = await parts.registry.spec(record.state.saga, record.state.version)
                decision = decide(spec, record.state, event, now_ms=parts.clock.now_ms())
                if decision.changed:
                    parts.faults.hit("before_commit", execution_id=execution_id, saga=spec.name)
                    try:
                        state = await parts.store.commit(
                            decision.state,
                            decision.history,
                            expected_revision=record.state.revision,
                            lease=lease,
                            previous=record.state,
                        )
                    except Fenced as fenced:
                        self._records.pop(execution_id, None)
                        if remembered is not None:
                            # Decided on a remembered record of an older lease (we lost the
                            # execution and took it back): decide again on what is stored.
                            continue
                        log.warning("fenced write dropped for execution %s: %s", execution_id, fenced)
                        return record
                    except StaleRevision:
                        self._records.pop(execution_id, None)
                        continue  # another writer won; decide again on what it wrote
                    except BaseException:
                        # Unknown outcome (a lost answer may hide a commit): the remembered record
                        # may be stale, and an event decided on it could be dropped as superseded
                        # without a commit to reveal it (the re-armed retry's wake-up was).
                        self._records.pop(execution_id, None)
                        raise
                    record = replace(record, state=state)
                    self._remember(record, lease)
                    parts.faults.hit("after_commit", execution_id=execution_id, saga=spec.name)
                    await parts.observer.committed(record, decision.history, spec=spec)
                    # After the observer: whoever waits for the end sees its trace already emitted.
                    if record.state.status.is_terminal:
                        self._waiters.notify(execution_id, record)
                    self._changes.notify(execution_id, record)
                if lease is not None:
                    self._dispatcher.dispatch(record, spec, decision.actions)
                elif decision.actions:
                    # Committed for the owner, which re-drives it on its next sweep.
                    self.stall(execution_id)
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
        ownership = self._parts.ownership
        lease = ownership.lease_of(record)
        if lease is not None or not external or record.state.calls:
            return lease
        # No call in flight anywhere: taking the execution over cannot overlap two attempts.
        claims = await self._parts.store.claim(
            ownership.owner_id, lease_ms=ownership.lease_ms, limit=1, ids=[record.state.id], force=True
        )
        return Lease(owner=ownership.owner_id, epoch=claims[0].epoch) if claims else None

    async def rearm(self, execution_id: str) -> None:
        """Arm this process's timers for every wake-up and wait the stored execution has (after
        taking it over by an external event, which re-sends nothing)."""
        record = await self._parts.store.load_execution(execution_id)
        lease = self._parts.ownership.lease_of(record)
        if lease is None:
            return
        spec = await self._parts.registry.spec(record.state.saga, record.state.version)
        self._dispatcher.dispatch(record, spec, wakeups_to_arm(record.state))

    def last_committed(self, execution_id: str) -> ExecutionRecord | None:
        """The record this process last committed, while it drives the execution and it is not terminal."""
        return self._records.get(execution_id)

    def waiting(self, execution_id: str) -> AbstractAsyncContextManager[Outcome[ExecutionRecord]]:
        """For the block: what is set with the record when the execution ends in this process."""
        return self._waiters.hold(execution_id)

    def changes(self, execution_id: str) -> AbstractAsyncContextManager[Outcome[ExecutionRecord]]:
        """For the block: what is set with the record when this process next commits the execution."""
        return self._changes.hold(execution_id)

    def stall(self, execution_id: str) -> None:
        """The execution's pending action could not be carried out: recovery re-drives it."""
        self._stalled.add(execution_id)

    def take_stalled(self) -> list[str]:
        """The stalled executions, forgotten here: whoever takes them re-drives or stalls them again."""
        stalled = list(self._stalled)
        self._stalled.clear()
        return stalled

    async def close(self, grace_s: float) -> None:
        """Dispatch no new call; let the calls in flight finish (up to `grace_s`) and commit their outcomes."""
        await self._dispatcher.close(grace_s)
