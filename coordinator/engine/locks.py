"""Per-execution serialisation inside one process: one load-decide-commit at a time per id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    """An asyncio lock per key, dropped when nobody holds or waits for it (no unbounded growth)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of `key` for the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class TerminalWaiters:
    """Events that long-polls wait on, one per execution while someone waits (no unbounded growth)."""

    def __init__(self) -> None:
        self._events: dict[str, tuple[asyncio.Event, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[asyncio.Event]:
        """The event of `key` for the block; it is set when the execution ends in this process."""
        event, users = self._events.get(key, (asyncio.Event(), 0))
        self._events[key] = (event, users + 1)
        try:
            yield event
        finally:
            event, users = self._events[key]
            if users == 1:
                del self._events[key]
            else:
                self._events[key] = (event, users - 1)

    def notify(self, key: str) -> None:
        """Wake whoever waits on `key`."""
        found = self._events.get(key)
        if found is not None:
            found[0].set()

    def __len__(self) -> int:
        return len(self._events)
