"""Counts per status for the list's header, kept for a moment when counting is slow.

Counting reads the few rows of `execution_counts` (kept exact by triggers in every writing
transaction, r0007), so it no longer grows with the number of executions (a GROUP BY over a
million rows was ~200 ms on every cold view). Each count is still kept for ten times what it took
(at most MAX_AGE_S): with a database that answers slowly, a list reloaded by many people does
not ask it on every view.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from coordinator.core.state import ExecutionStatus

MAX_AGE_S = 5.0
_COST_FACTOR = 10
_MAX_ENTRIES = 1000

Counter = Callable[[str | None], Awaitable[dict[ExecutionStatus, int]]]


class StatusCounts:
    """`await counts(saga)`: every status with its count, through a cache sized by the count's cost."""

    def __init__(self, count: Counter) -> None:
        self._count = count
        self._cache: dict[str | None, tuple[float, dict[ExecutionStatus, int]]] = {}

    async def __call__(self, saga: str | None) -> list[tuple[ExecutionStatus, int]]:
        """Every status with its count (zeros included), in the order of the enum."""
        cached = self._cache.get(saga)
        if cached is None or time.monotonic() > cached[0]:
            began = time.monotonic()
            counts = await self._count(saga)
            took = time.monotonic() - began
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            cached = (time.monotonic() + min(took * _COST_FACTOR, MAX_AGE_S), counts)
            self._cache[saga] = cached
        return [(status, cached[1].get(status, 0)) for status in ExecutionStatus]
