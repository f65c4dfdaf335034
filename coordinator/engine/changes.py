"""Wake whoever watches an execution when this process commits a new revision of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from coordinator.engine.locks import Outcome

T = TypeVar("T")


class CommitSignals(Generic[T]):
    """One signal per watched execution, fired (with the new record) by each commit of this process.

    A fired signal is forgotten at once, so a watcher that comes later waits for the next commit
    instead of seeing the old one; nothing is kept for executions nobody watches.
    """

    def __init__(self) -> None:
        self._signals: dict[str, tuple[Outcome[T], int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[Outcome[T]]:
        """The signal of `key` for the block: set by the next commit of that execution here."""
        outcome, users = self._signals.get(key, (Outcome[T](), 0))
        self._signals[key] = (outcome, users + 1)
        try:
            yield outcome
        finally:
            current = self._signals.get(key)
            if current is not None and current[0] is outcome:
                if current[1] == 1:
                    del self._signals[key]
                else:
                    self._signals[key] = (outcome, current[1] - 1)

    def notify(self, key: str, value: T) -> None:
        """Hand `value` to whoever watches `key` now; later watchers wait for the next one."""
        found = self._signals.pop(key, None)
        if found is not None:
            found[0].set(value)

    def __len__(self) -> int:
        return len(self._signals)
