"""A timer service driven by hand: tests decide when time passes."""

from __future__ import annotations

from coordinator.ports import Clock, TimerService, WakeupCallback


class ManualClock(Clock):
    """A clock that moves only when told to."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.current = start_ms

    def now_ms(self) -> int:
        """The time the test set."""
        return self.current

    def advance(self, ms: int) -> None:
        """Move time forward by `ms`."""
        self.current += ms


class ManualTimers(TimerService):
    """Holds wake-ups until `fire_due(now_ms)` runs the due ones."""

    def __init__(self) -> None:
        self._armed: dict[str, tuple[int, WakeupCallback]] = {}
        self.periodic: dict[str, WakeupCallback] = {}

    def arm(self, key: str, due_at_ms: int, callback: WakeupCallback) -> None:
        """Remember the wake-up; nothing fires until `fire_due`."""
        self._armed[key] = (due_at_ms, callback)

    def disarm(self, key: str) -> None:
        """Forget the wake-up under `key`."""
        self._armed.pop(key, None)

    def every(self, key: str, seconds: float, callback: WakeupCallback) -> None:
        """Remember the periodic job; tests run it with `run_periodic`."""
        self.periodic[key] = callback

    async def run_periodic(self, key: str) -> None:
        """Run one periodic job once."""
        await self.periodic[key]()

    def start(self) -> None:
        """Nothing to start."""

    def shutdown(self) -> None:
        """Forget everything."""
        self._armed.clear()

    def pending(self) -> int:
        """How many wake-ups are armed."""
        return len(self._armed)

    def due_times(self) -> dict[str, int]:
        """Armed keys and their due times."""
        return {key: due for key, (due, _) in self._armed.items()}

    async def fire_due(self, now_ms: int) -> int:
        """Run every wake-up due at or before `now_ms`; return how many ran."""
        due = [(key, cb) for key, (at, cb) in self._armed.items() if at <= now_ms]
        for key, _ in due:
            del self._armed[key]
        for _, callback in due:
            await callback()
        return len(due)
