"""The participant calls under way in this process: each a task, a bounded number sending at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class CallPool:
    """Runs calls as tasks, at most `limit` of them sending at once; counts them for the gauges.

    Built before the engine and its telemetry observer, and handed to both: the engine fills it,
    the observer reads `count` at scrape time, and neither needs the other.
    """

    def __init__(self, limit: int = 200) -> None:
        # At most as many calls as the client has connections: beyond that the client's pool
        # queues them, where they would wait with their timeouts running (and httpcore's pool,
        # our earlier transport, spent 97 % of the CPU on that queue's bookkeeping).
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, call: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run `call()` as a task once a slot is free; the caller does not wait for it.

        `call` is made only inside the task, so a task cancelled before it starts leaves no
        coroutine behind that was never awaited.
        """
        task = asyncio.create_task(self._in_slot(call), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _in_slot(self, call: Callable[[], Awaitable[None]]) -> None:
        async with self._slots:
            await call()

    def count(self) -> int:
        """Calls started and not finished (sending, or waiting for a slot)."""
        return len(self._tasks)

    async def drain(self, grace_s: float) -> None:
        """Let the calls under way finish for up to `grace_s`, then cancel the rest."""
        if self._tasks and grace_s > 0:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
