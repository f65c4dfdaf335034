"""Event-loop lag: how late a small periodic task wakes up, as `saga_event_loop_lag_seconds`.

One task sleeps `interval_s` (25 ms) again and again; the lag of a wake-up is how much later than
asked it ran, which is how long something held the loop (a blocking call, a long CPU stretch, a
decompression that should not have happened). A stall of S seconds shows as a sample of between
S - interval and S. Each sample goes into a histogram (buckets from 1 ms to 10 s: alert on the
share above 0.1 s); the largest since `reset_max()` is kept (`max_lag_s`, and `max_held_s`, below) for the fault tests
and the bench, which hold the loop to less than 100 ms while participants misbehave.

Lag is wall-clock time, and on a busy machine the operating system also makes a process wait for
a CPU (at a load of 5 on 2 cores, 100-250 ms at times): that is lag a user feels, but no code of
ours holds the loop then. `max_held_s` separates the two: the part of a sample's lag during which
the loop's own thread was running (its CPU time over the interval, at most the lag). A CPU-bound
stall (inflating a bomb, parsing a huge body) counts in full; being descheduled does not; a
blocking call that sleeps (a synchronous socket, `time.sleep`) shows in the lag only.

A histogram rather than a gauge: a gauge scraped every 15 s shows whatever the last sample was,
and a 300 ms stall between scrapes would never be seen. The cost is 40 wake-ups a second, a
few microseconds each.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View

METRIC = "saga.event_loop.lag"
"""Exported to Prometheus as `saga_event_loop_lag_seconds` (a histogram)."""
BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEFAULT_INTERVAL_S = 0.025


def lag_view() -> View:
    """The histogram's buckets, in seconds (the SDK's defaults are meant for milliseconds)."""
    return View(instrument_name=METRIC, aggregation=ExplicitBucketHistogramAggregation(BUCKETS_S))


class LoopLagSampler:
    """Samples the running loop's lag while started; `max_lag_s` is the largest since `reset_max()`."""

    def __init__(self, meter: Meter, *, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._histogram = meter.create_histogram(
            METRIC, unit="s", description="How late a 25 ms periodic task woke up: how long the event loop was held"
        )
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self.max_lag_s = 0.0
        self.max_held_s = 0.0
        self.samples = 0

    def start(self) -> None:
        """Start sampling on the running loop (again a no-op while running)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="event-loop-lag")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reset_max(self) -> None:
        """Start a new window for `max_lag_s` and `max_held_s`."""
        self.max_lag_s = 0.0
        self.max_held_s = 0.0
        self.samples = 0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        cpu = time.thread_time()
        while True:
            due = loop.time() + self._interval_s
            await asyncio.sleep(self._interval_s)
            lag_s = max(0.0, loop.time() - due)
            cpu, spent_s = time.thread_time(), time.thread_time() - cpu
            self.observe(lag_s, held_s=min(lag_s, spent_s))

    def observe(self, lag_s: float, *, held_s: float | None = None) -> None:
        """Record one sample: `lag_s` late, of which `held_s` (at most) the loop's thread was running."""
        self._histogram.record(lag_s)
        self.samples += 1
        self.max_lag_s = max(self.max_lag_s, lag_s)
        self.max_held_s = max(self.max_held_s, lag_s if held_s is None else held_s)
