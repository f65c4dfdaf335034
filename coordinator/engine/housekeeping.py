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
from coordinator.errors import StoreUnavailable

log = logging.getLogger("coordinator.engine")

ATTENTION_EVERY_S = 15.0
"""How often the gauge of executions needing attention is recomputed (SPEC: at most every 15 s)."""
RETENTION_EVERY_S = 30.0
"""How often retention looks for executions to delete (SPEC: at least once a minute)."""
RETENTION_BATCH = 50
"""Executions deleted per transaction (SPEC: at most 1,000), with their steps and history.

Small on purpose: on SQLite a batch is one write in the group commit, and the sagas' writes queued
behind it wait for all of it (its reads, the archive's JSON and fsync, ~460 history rows deleted
per 50 executions). Batches of 500 back to back cut the happy workload to 0.44 x while purging."""
RETENTION_SHARE = 0.2
"""At most this share of the time of a run is spent purging: after a batch that took t, retention
pauses t x (1 - share) / share (4 t), so the sagas' writes get the writer in between."""
RETENTION_MIN_PAUSE_S = 0.02
RETENTION_RUN_S = 25.0
"""How long one run may go on (under RETENTION_EVERY_S: runs never overlap); a backlog drains
over several runs, at up to ~300 executions per second on SQLite here."""
_NOTES_PER_RUN = 200


class Housekeeping:
    """The attention watch and retention, scheduled on the engine's timers."""

    def __init__(self, parts: Collaborators, *, retention_run_s: float = RETENTION_RUN_S) -> None:
        self._parts = parts
        self._run_s = retention_run_s

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

        In batches of RETENTION_BATCH, each paced by a pause (RETENTION_SHARE), until a batch comes
        back short or the run has lasted RETENTION_RUN_S.
        """
        parts = self._parts
        if parts.retention_ms is None:
            return 0
        cutoff = parts.clock.now_ms() - parts.retention_ms
        deleted = 0
        began = time.monotonic()
        try:
            while True:
                started = time.monotonic()
                batch = await parts.store.purge_finished(cutoff, limit=RETENTION_BATCH, archive=parts.archive)
                deleted += batch
                if batch < RETENTION_BATCH or time.monotonic() - began >= self._run_s:
                    break
                took = time.monotonic() - started
                await asyncio.sleep(max(RETENTION_MIN_PAUSE_S, took * (1 - RETENTION_SHARE) / RETENTION_SHARE))
        except StoreUnavailable as error:
            log.warning("retention skipped, the database is unavailable: %s", error)
        except Exception:
            log.exception("retention failed; nothing of the failed batch was deleted, the next run retries")
        if deleted:
            log.info("retention deleted %d execution(s) that finished before %d", deleted, cutoff)
        return deleted
