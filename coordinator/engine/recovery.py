"""Recovery and takeover: lease renewal, claiming what gone processes left, re-driving what stalled."""

from __future__ import annotations

import asyncio
import logging
import time

from coordinator.core.events import Resumed
from coordinator.engine.collaborators import Collaborators
from coordinator.engine.cycle import EventCycle
from coordinator.errors import ExecutionNotFound, StoreUnavailable
from coordinator.ports import Resumption

log = logging.getLogger("coordinator.engine")

_CLAIM_BATCH = 500
_RESUME_BATCH = 64
"""Claimed executions counted and loaded in one transaction."""
_RESUME_CONCURRENCY = 64
"""Executions resumed at once by a recovery (their re-sent calls are further bounded by the call pool)."""


class Recovery:
    """Keeps this process's leases alive, and takes over and resumes the executions nobody drives."""

    def __init__(self, parts: Collaborators, cycle: EventCycle) -> None:
        self._parts = parts
        self._cycle = cycle
        self._at_start: asyncio.Task[None] | None = None

    def start(self, *, sweep_seconds: float, take_over_all: bool = False) -> None:
        """Begin firing wake-ups, renewing our leases, sweeping for expired ones, and recovering.

        Renewal is its own job so a long takeover sweep never delays it past our leases. Recovery
        of what a previous process left unfinished runs in the background: the API serves
        meanwhile. `take_over_all` claims even live leases: right for SQLite, where one process
        owns the file, so any lease on it belonged to a process that is gone.
        """
        timers = self._parts.timers
        self._parts.ownership.renewed()
        timers.every("lease-renew", sweep_seconds, self.renew)
        timers.every("lease-sweep", sweep_seconds, self.sweep)
        timers.start()
        self._at_start = asyncio.create_task(self._recover_at_start(take_over_all), name="recovery")

    async def _recover_at_start(self, take_all: bool) -> None:
        try:
            await self.recover(take_all=take_all)
        except Exception:
            log.exception("recovery at start failed; the periodic sweep takes over expired leases")

    async def renew(self) -> None:
        """Extend every lease we hold."""
        ownership = self._parts.ownership
        sent_at = time.monotonic()
        try:
            await self._parts.store.renew(ownership.owner_id, lease_ms=ownership.lease_ms)
            ownership.renewed(at=sent_at)
        except Exception as error:
            log.warning("lease renewal failed; calls pause once the leases may lapse: %s", error)

    async def recover(self, *, take_all: bool = False) -> int:
        """Claim unfinished executions of other (gone) owners and resume them: re-send calls, re-arm wake-ups.

        `take_all` claims even live leases (never our own). Executions whose last resumption
        made no progress (it may have crashed the process) are resumed one at a time, so a crash
        counts against the execution that caused it alone. The others are counted and loaded in
        batches of `_RESUME_BATCH` (one transaction each: no round trips per execution before
        its resuming commit), and resumed a bounded number at a time, so their writes share
        commits; the next batch is loaded while the previous one resumes.
        """
        ownership = self._parts.ownership
        total = 0
        slots = asyncio.Semaphore(_RESUME_CONCURRENCY)

        async def take_over(resumption: Resumption) -> None:
            async with slots:
                await self._take_over(resumption.record.state.id, resumption)

        while True:
            claims = await self._parts.store.claim(
                ownership.owner_id, lease_ms=ownership.lease_ms, limit=_CLAIM_BATCH, force=take_all
            )
            fresh = [claim.execution_id for claim in claims if not claim.recovery_attempts]
            resuming: asyncio.Future[list[None]] | None = None
            for at in range(0, len(fresh), _RESUME_BATCH):
                batch = await self._begin(fresh[at : at + _RESUME_BATCH])
                if resuming is not None:
                    await resuming
                resuming = asyncio.gather(*(take_over(resumption) for resumption in batch))
            if resuming is not None:
                await resuming
            for claim in claims:
                if claim.recovery_attempts:
                    await self._take_over(claim.execution_id)
            total += len(claims)
            if len(claims) < _CLAIM_BATCH:
                break
        if total:
            log.info("took over %d unfinished execution(s)", total)
        return total

    async def _begin(self, execution_ids: list[str]) -> list[Resumption]:
        """Count and load a batch of claimed executions; if that fails, they are ours and stalled."""
        try:
            return await self._parts.store.begin_resumption(execution_ids)
        except Exception:
            for execution_id in execution_ids:
                self._cycle.stall(execution_id)
            log.exception("could not load %d claimed execution(s); the next sweep retries", len(execution_ids))
            return []

    async def sweep(self) -> None:
        """Take over expired leases of other processes, and re-drive our executions that stalled."""
        try:
            if self._at_start is None or self._at_start.done():  # else the recovery at start claims them
                await self.recover()
            for execution_id in self._cycle.take_stalled():
                await self._redrive(execution_id)
        except StoreUnavailable as error:
            log.warning("sweep skipped, the database is unavailable: %s", error)
        except Exception:
            log.exception("sweep failed; the next one retries")

    async def _redrive(self, execution_id: str) -> None:
        """Resume one stalled execution; if the database fails again, it stays stalled for the next sweep."""
        try:
            # Ours all along: a call it recorded but we are not sending is in flight nowhere.
            await self._cycle.handle(execution_id, Resumed(others_may_be_sending=False))
        except ExecutionNotFound:
            return  # a start whose insert failed after all: nothing to drive
        except Exception:
            self._cycle.stall(execution_id)
            log.warning("execution %s is still stalled; the next sweep retries", execution_id, exc_info=True)

    async def _take_over(self, execution_id: str, resumption: Resumption | None = None) -> None:
        """Resume one claimed execution; if that fails, it is ours and stalled: the sweep re-drives it.

        With `resumption`, its resumption is already counted and the execution loaded (a batch);
        without, both happen here, just before driving it, so that if it takes the process down
        only the executions being resumed at that moment are counted, not the whole claim.
        Never raises: an execution we claimed but could not resume must not be forgotten (our own
        lease is renewed, so no claim would ever pick it up again).
        """
        store = self._parts.store
        try:
            attempts = resumption.attempts if resumption is not None else await store.note_recovery(execution_id)
            if attempts > self._parts.max_recovery_attempts:
                reason = (
                    f"quarantined after {attempts - 1} resumptions without progress "
                    "(it may crash the coordinator); POST .../retry releases it"
                )
                await store.quarantine(execution_id, reason, now_ms=self._parts.clock.now_ms())
                log.error("execution %s %s", execution_id, reason)
                return
            loaded = resumption.record if resumption is not None else None
            record = await self._cycle.handle(execution_id, Resumed(), loaded=loaded)
        except Exception:
            self._cycle.stall(execution_id)
            log.exception("could not resume execution %s; the next sweep retries", execution_id)
            return
        if not record.state.status.is_terminal:
            self._parts.observer.resumed(record)

    async def close(self, grace_s: float = 0.0) -> None:
        """Shut down: claim nothing more, let calls in flight finish (up to `grace_s`), hand leases back.

        Timers stop first (no sweep claims work, no retry fires); the calls in flight finish and
        their outcomes are committed; follow-up calls are not started; then our leases are released
        so another replica, or the next start, takes the executions over at once.
        """
        self._parts.timers.shutdown()
        if self._at_start is not None:
            self._at_start.cancel()
            await asyncio.gather(self._at_start, return_exceptions=True)
        await self._cycle.close(grace_s)
        try:
            await self._parts.store.release(self._parts.ownership.owner_id)
        except Exception:
            log.warning("could not release leases; they expire on their own", exc_info=True)
