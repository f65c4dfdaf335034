"""Work an example service finishes after answering 202: the participant's side of an `async:` step.

A step declared `async:` in its saga is called with `X-Saga-Callback-Url`. A service that cannot
answer at once (a card waiting for 3-D Secure) answers `202 Accepted`, does the work, and reports
the outcome to that URL with the client's `AsyncCallback`, sending a heartbeat while it works.

Two rules make it safe under the coordinator's retries:

- **The newest URL wins.** When an attempt times out, the coordinator calls again with the same
  `Idempotency-Key` and a new callback URL (the old one is now refused). The service's idempotency
  layer replays its stored 202 and tells `Deferred.retarget`, so the outcome goes to the new URL,
  at once if the work is already done.
- **A refusal ends it.** 404 or 409 means the coordinator gave up on that attempt: stop reporting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from coordinator.client import AsyncCallback, CallbackConflict, CallbackNotFound, Delivery, SagaError

_REPORT_ATTEMPTS = 8
_REPORT_BACKOFF_S = 0.25
_MAX_BACKOFF_S = 4.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the deferred work ended, as it is reported to the coordinator."""

    succeeded: bool
    body: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """One callback the service sent, as served in `/_state` (the URL is a secret: never kept)."""

    key: str
    outcome: str
    delivery: str
    """`accepted`, `duplicate`, `refused` (404/409: the attempt was over) or `unreachable`."""


class Deferred:
    """The service's jobs that answered 202 and report later, by idempotency key."""

    def __init__(self, delay_s: float | None = None) -> None:
        # EXAMPLES_ASYNC_DELAY_MS: how long the deferred work takes ("a moment later").
        default_s = float(os.environ.get("EXAMPLES_ASYNC_DELAY_MS", "400") or 400) / 1000
        self.delay_s = default_s if delay_s is None else delay_s
        self.reports: list[Report] = []
        self._urls: dict[str, str] = {}
        self._results: dict[str, Outcome] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, key: str, url: str, work: Callable[[], Outcome]) -> None:
        """Run `work` in the background after the delay; report its outcome to the newest URL of `key`."""
        self._urls[key] = url
        self._spawn(self._run(key, work))

    def retarget(self, key: str, url: str) -> None:
        """The call with `key` came again (a new attempt): report to `url` from now on.

        When the work already ended, its outcome is sent to the new URL now; the old attempt's
        report was refused, or reached a coordinator that was restarting.
        """
        if key not in self._urls:
            return
        changed, self._urls[key] = self._urls[key] != url, url
        last = next((r for r in reversed(self.reports) if r.key == key), None)
        if key in self._results and (changed or (last is not None and last.delivery == "unreachable")):
            self._spawn(self._report(key))

    async def close(self) -> None:
        """Stop every job (the service is shutting down)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: str, work: Callable[[], Outcome]) -> None:
        await asyncio.sleep(self.delay_s / 2)
        # Half way: still working. A heartbeat is a courtesy; the outcome is what counts.
        async with AsyncCallback(self._urls[key]) as callback:
            with contextlib.suppress(SagaError):
                await callback.heartbeat()
        await asyncio.sleep(self.delay_s / 2)
        self._results[key] = work()
        await self._report(key)

    async def _report(self, key: str) -> None:
        outcome = self._results[key]
        delivery = "unreachable"
        for attempt in range(_REPORT_ATTEMPTS):
            url = self._urls[key]  # re-read: a newer attempt may have come in meanwhile
            try:
                async with AsyncCallback(url) as callback:
                    sent: Delivery = await (
                        callback.complete(outcome.body)
                        if outcome.succeeded
                        else callback.fail(outcome.error or "failed", outcome.body)
                    )
                delivery = str(sent)
                break
            except (CallbackNotFound, CallbackConflict):
                if url != self._urls[key]:
                    continue  # superseded while we sent: the newer attempt gets it
                delivery = "refused"
                break
            except SagaError:
                await asyncio.sleep(min(_MAX_BACKOFF_S, _REPORT_BACKOFF_S * 2**attempt))
        self.reports.append(Report(key=key, outcome="succeeded" if outcome.succeeded else "failed", delivery=delivery))
