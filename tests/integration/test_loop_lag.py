"""`saga_event_loop_lag_seconds`: the sampler sees a held loop, tells it from waiting, and is exported."""

from __future__ import annotations

import asyncio
import time

from coordinator import __version__
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.telemetry import LoopLagSampler, Telemetry


def _telemetry() -> Telemetry:
    return Telemetry.from_env({}, service_version=__version__)


async def test_a_blocked_loop_is_lag_and_a_busy_one_is_held() -> None:
    telemetry = _telemetry()
    sampler = telemetry.loop_lag_sampler()
    sampler.start()
    try:
        await asyncio.sleep(0.1)
        assert sampler.samples >= 2 and sampler.max_lag_s < 0.1
        sampler.reset_max()
        time.sleep(0.2)  # blocks the loop without running: lag, not held
        await asyncio.sleep(0.05)
        assert sampler.max_lag_s >= 0.15
        assert sampler.max_held_s < 0.1
        sampler.reset_max()
        # Holds the loop, running, for 0.2 s of CPU (more wall time when the box is busy): lag and held.
        spin_until = time.thread_time() + 0.2
        while time.thread_time() < spin_until:
            pass
        await asyncio.sleep(0.05)
        assert sampler.max_lag_s >= 0.15 and sampler.max_held_s >= 0.15
    finally:
        await sampler.stop()
    text = telemetry.prometheus_text().decode()
    assert 'saga_event_loop_lag_seconds_bucket{le="0.1"}' in text
    assert 'saga_event_loop_lag_seconds_bucket{le="0.25"}' in text  # seconds, not the SDK's ms buckets
    count = next(line for line in text.splitlines() if line.startswith("saga_event_loop_lag_seconds_count"))
    assert float(count.split()[-1]) >= 4
    telemetry.shutdown()


async def test_the_runtime_samples_from_start_to_close() -> None:
    runtime = await Runtime.open(Settings(database_url="memory://"), telemetry=_telemetry())
    assert isinstance(runtime.loop_lag, LoopLagSampler) and runtime.loop_lag.samples == 0
    await runtime.start()
    await asyncio.sleep(0.12)
    await runtime.close()
    sampled = runtime.loop_lag.samples
    assert sampled >= 2
    await asyncio.sleep(0.06)
    assert runtime.loop_lag.samples == sampled  # stopped with the runtime
