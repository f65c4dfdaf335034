"""A clock and a timer service driven by hand: tests decide when time passes, and nothing else does."""

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
    """Wake-ups on a `ManualClock`: they fire when `advance` moves the clock past their due time.

    Periodic jobs (lease renewal, the sweep) never run on their own: `run_periodic` runs one.
    """

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self._armed: dict[str, tuple[int, WakeupCallback]] = {}
        self._periodic: dict[str, WakeupCallback] = {}

    def arm(self, key: str, due_at_ms: int, callback: WakeupCallback) -> None:
        """Remember the wake-up; it fires from the first `advance` that reaches `due_at_ms`."""
        self._armed[key] = (due_at_ms, callback)

    def disarm(self, key: str) -> None:
        """Forget the wake-up under `key`."""
        self._armed.pop(key, None)

    def every(self, key: str, seconds: float, callback: WakeupCallback) -> None:
        """Remember the periodic job; `run_periodic(key)` runs it."""
        self._periodic[key] = callback

    async def run_periodic(self, key: str) -> None:
        """Run one periodic job once."""
        await self._periodic[key]()

    def start(self) -> None:
        """Nothing to start: time moves only in `advance`."""

    def shutdown(self) -> None:
        """Forget every wake-up and periodic job."""
        self._armed.clear()
        self._periodic.clear()

    def pending(self) -> int:
        """How many wake-ups are armed."""
        return len(self._armed)

    async def advance(self, ms: int = 0) -> int:
        """Move the clock by `ms`, then run every wake-up now due, earliest first; return how many ran.

        A wake-up armed by one that runs, and due by then, runs too: after the call nothing due is left.
        """
        self._clock.advance(ms)
        ran = 0
        while due := sorted(((at, key) for key, (at, _) in self._armed.items() if at <= self._clock.now_ms())):
            _, key = due[0]
            _, callback = self._armed.pop(key)
            await callback()
            ran += 1
        return ran
