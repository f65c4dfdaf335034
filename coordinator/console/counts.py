"""Counts per status for the list's header, kept for a moment so a busy list page does not count on every view."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from coordinator.core.state import ExecutionStatus

COUNT_TTL_S = 2.0
"""How stale the counts may be: a list reloaded by many people costs one grouped count per saga per TTL."""
_MAX_ENTRIES = 1000

Counter = Callable[[str | None], Awaitable[dict[ExecutionStatus, int]]]


class StatusCounts:
    """`count(saga)` through a short-lived cache in front of the service's grouped count."""

    def __init__(self, count: Counter, *, ttl_s: float = COUNT_TTL_S) -> None:
        self._count = count
        self._ttl_s = ttl_s
        self._cache: dict[str | None, tuple[float, dict[ExecutionStatus, int]]] = {}

    async def __call__(self, saga: str | None) -> list[tuple[ExecutionStatus, int]]:
        """Every status with its count (zeros included), in the order of the enum."""
        now = time.monotonic()
        cached = self._cache.get(saga)
        if cached is None or now - cached[0] > self._ttl_s:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            cached = (now, await self._count(saga))
            self._cache[saga] = cached
        counts = cached[1]
        return [(status, counts.get(status, 0)) for status in ExecutionStatus]
