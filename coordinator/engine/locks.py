"""Per-execution serialisation inside one process: one load-decide-commit at a time per id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


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


class Outcome(Generic[T]):
    """What a waiter waits for: set once, with the value that ended the wait."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.value: T | None = None

    def set(self, value: T) -> None:
        """Hand `value` to whoever waits, and wake them."""
        self.value = value
        self._event.set()

    async def wait(self) -> T | None:
        """Until `set` is called; the value it was given."""
        await self._event.wait()
        return self.value


class TerminalWaiters(Generic[T]):
    """What long-polls wait on, one per execution while someone waits (no unbounded growth)."""

    def __init__(self) -> None:
        self._outcomes: dict[str, tuple[Outcome[T], int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[Outcome[T]]:
        """The outcome of `key` for the block; it is set when the execution ends in this process."""
        outcome, users = self._outcomes.get(key, (Outcome[T](), 0))
        self._outcomes[key] = (outcome, users + 1)
        try:
            yield outcome
        finally:
            outcome, users = self._outcomes[key]
            if users == 1:
                del self._outcomes[key]
            else:
                self._outcomes[key] = (outcome, users - 1)

    def notify(self, key: str, value: T) -> None:
        """Hand `value` to whoever waits on `key` (nothing is kept when nobody waits)."""
        found = self._outcomes.get(key)
        if found is not None:
            found[0].set(value)

    def __len__(self) -> int:
        return len(self._outcomes)
