"""Periodic care of the stored executions: who needs an operator, and what retention may delete.

Both jobs are wake-ups of the timer service, never loops holding a task. The attention job runs one
indexed query for the gauge and one claim for the warnings (so each execution is warned of once,
by one replica); the retention job deletes in bounded batches, so the writes of sagas in flight
interleave with it, and on PostgreSQL only one replica purges at a time (an advisory lock).
"""

from __future__ import annotations

import asyncio
import logging
import time

from coordinator.engine.collaborators import Collaborators
from coordinator.engine.pacing import Pacer, PacingPolicy
from coordinator.errors import StoreUnavailable

log = logging.getLogger("coordinator.engine")

ATTENTION_EVERY_S = 15.0
"""How often the gauge of executions needing attention is recomputed (SPEC: at most every 15 s)."""
RETENTION_EVERY_S = 30.0
"""How often retention looks for executions to delete (SPEC: at least once a minute)."""
RETENTION_BATCH = 50
"""Executions per transaction of `saga purge` (SPEC: at most 1,000); the retention job sizes its
batches itself (`pacing`), starting from this."""
RETENTION_RUN_S = 600.0
"""How long one run may go on; it ends sooner when a batch comes back short (nothing left that is
due). The timer waits RETENTION_EVERY_S between runs, so a backlog is worked on ~95 % of the time."""
RETENTION_TOTAL_EVERY_S = 5.0
"""How often, during a run, the pacer is told how many executions are stored (see `pacing`)."""
RETENTION_PROGRESS_EVERY_S = 60.0
"""How often a long run logs how far it got."""
_NOTES_PER_RUN = 200


class Housekeeping:
    """The attention watch and retention, scheduled on the engine's timers."""

    def __init__(
        self,
        parts: Collaborators,
        *,
        retention_run_s: float = RETENTION_RUN_S,
        pacing: PacingPolicy | None = None,
    ) -> None:
        self._parts = parts
        self._run_s = retention_run_s
        self.pacer = Pacer(pacing)
        """Kept across runs: each run starts from the batch size and share the last one learnt."""

    def schedule(self) -> None:
        """Arm the periodic jobs (before the timers start)."""
        timers = self._parts.timers
        timers.every("attention", ATTENTION_EVERY_S, self.watch_attention)
        if self._parts.retention_ms is not None:
            timers.every("retention", RETENTION_EVERY_S, self._retention_run)

    async def watch_attention(self) -> None:
        """Refresh the gauge, and warn once of each execution that started needing attention."""
        parts = self._parts
        now = parts.clock.now_ms()
        try:
            parts.observer.attention_counted(await parts.store.attention_counts(now))
            parts.observer.waiting_counted(await parts.store.count_waiting())
            for record in await parts.store.note_attention(now, limit=_NOTES_PER_RUN):
                reason = record.attention_reason(now)
                if reason is not None:
                    parts.observer.needs_attention(record, reason)
        except StoreUnavailable as error:
            log.warning("attention check skipped, the database is unavailable: %s", error)
        except Exception:
            log.exception("attention check failed; the next one retries")

    async def _retention_run(self) -> None:
        await self.apply_retention()

    async def apply_retention(self) -> int:
        """Delete (archiving first) executions that finished longer ago than the retention; how many.

        Batch after batch, sized and paced by `self.pacer`, until a batch comes back short (nothing
        more is due) or the run has lasted `retention_run_s`.
        """
        parts = self._parts
        if parts.retention_ms is None:
            return 0
        cutoff = parts.clock.now_ms() - parts.retention_ms
        pacer = self.pacer
        deleted = 0
        began = time.monotonic()
        next_total = began
        next_progress = began + RETENTION_PROGRESS_EVERY_S
        try:
            while True:
                now = time.monotonic()
                if now >= next_total:
                    pacer.observe_total(now, sum((await parts.store.count_by_status()).values()))
                    next_total = now + RETENTION_TOTAL_EVERY_S
                if now >= next_progress:
                    log.info("retention: %d deleted so far this run (batches of %d)", deleted, pacer.batch)
                    next_progress = now + RETENTION_PROGRESS_EVERY_S
                size = pacer.batch
                started = time.monotonic()
                batch = await parts.store.purge_finished(cutoff, limit=size, archive=parts.archive)
                waited = max(0.0, time.monotonic() - started - batch.busy_s)
                deleted += batch.deleted
                if batch.deleted < size or time.monotonic() - began >= self._run_s:
                    break
                await asyncio.sleep(pacer.after_batch(batch.deleted, batch.busy_s, waited_s=waited))
        except StoreUnavailable as error:
            log.warning("retention skipped, the database is unavailable: %s", error)
        except Exception:
            log.exception("retention failed; nothing of the failed batch was deleted, the next run retries")
        if deleted:
            log.info("retention deleted %d execution(s) that finished before %d", deleted, cutoff)
        return deleted
