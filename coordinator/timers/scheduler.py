"""APScheduler 3.x as a wake-up service. It holds no state we cannot rebuild from the database."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from coordinator.ports import TimerService, WakeupCallback

log = logging.getLogger("coordinator.timers")


class SchedulerTimers(TimerService):
    """One date-triggered job per execution, in APScheduler's memory job store.

    `misfire_grace_time=None`: a wake-up that fires late still runs (APScheduler would otherwise
    drop it). The job store is memory only: after a restart, recovery re-arms every wake-up from
    the due times in the database.
    """

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._periodic: dict[str, tuple[float, WakeupCallback]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def arm(self, key: str, due_at_ms: int, callback: WakeupCallback) -> None:
        """Schedule `callback` at `due_at_ms`, replacing any wake-up under `key`."""
        run_date = datetime.fromtimestamp(due_at_ms / 1000, tz=UTC)
        self._scheduler.add_job(
            callback,
            trigger=DateTrigger(run_date=run_date, timezone=UTC),
            id=key,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            # A wake-up may arm the next one under its own key while it still runs (a wait for a
            # callback that timed out schedules the retry; one re-armed after a heartbeat): that
            # next run must not be skipped as a second instance of the running one.
            max_instances=2,
        )

    def disarm(self, key: str) -> None:
        """Remove the wake-up under `key`, if any."""
        job = self._scheduler.get_job(key)
        if job is not None:
            job.remove()

    def every(self, key: str, seconds: float, callback: WakeupCallback) -> None:
        """A periodic job (lease renewal, takeover sweeps): one run at a time, never doubled.

        A plain asyncio task rather than an APScheduler interval job: these jobs keep the
        process's leases alive and re-drive stalled executions, so they must not share a fate with
        the scheduler's job bookkeeping; a run that raises is logged and the next one comes anyway.
        """
        self._periodic[key] = (seconds, callback)
        if self._scheduler.running:
            self._start_periodic(key)

    def _start_periodic(self, key: str) -> None:
        seconds, callback = self._periodic[key]

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await callback()
                except Exception:
                    log.exception("periodic job %s failed; it runs again in %.1f s", key, seconds)

        old = self._tasks.pop(key, None)
        if old is not None:
            old.cancel()
        self._tasks[key] = asyncio.get_running_loop().create_task(loop(), name=f"timer {key}")

    def start(self) -> None:
        """Start the scheduler and the periodic jobs on the running event loop."""
        if not self._scheduler.running:
            self._scheduler.start()
            for key in self._periodic:
                self._start_periodic(key)

    def shutdown(self) -> None:
        """Stop firing; pending wake-ups are dropped (the database still has them)."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def pending(self) -> int:
        """How many wake-ups are armed."""
        return len(self._scheduler.get_jobs())
