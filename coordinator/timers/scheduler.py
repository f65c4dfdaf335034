"""APScheduler 3.x as a wake-up service. It holds no state we cannot rebuild from the database."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from coordinator.ports import TimerService, WakeupCallback


class SchedulerTimers(TimerService):
    """One date-triggered job per execution, in APScheduler's memory job store.

    `misfire_grace_time=None`: a wake-up that fires late still runs (APScheduler would otherwise
    drop it). The job store is memory only: after a restart, recovery re-arms every wake-up from
    the due times in the database.
    """

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)

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
        )

    def disarm(self, key: str) -> None:
        """Remove the wake-up under `key`, if any."""
        job = self._scheduler.get_job(key)
        if job is not None:
            job.remove()

    def every(self, key: str, seconds: float, callback: WakeupCallback) -> None:
        """A periodic job (lease renewal and takeover sweeps); never two runs at once."""
        self._scheduler.add_job(
            callback,
            trigger=IntervalTrigger(seconds=seconds, timezone=UTC),
            id=key,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    def start(self) -> None:
        """Start the scheduler on the running event loop."""
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        """Stop firing; pending wake-ups are dropped (the database still has them)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def pending(self) -> int:
        """How many wake-ups are armed (periodic jobs not counted)."""
        return sum(1 for job in self._scheduler.get_jobs() if isinstance(job.trigger, DateTrigger))
