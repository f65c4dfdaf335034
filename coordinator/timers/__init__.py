"""Wake-ups for scheduled retries: APScheduler in production, a manual clock in tests."""

from coordinator.timers.manual import ManualTimers
from coordinator.timers.scheduler import SchedulerTimers

__all__ = ["ManualTimers", "SchedulerTimers"]
