"""The load driver: its own process, uvloop + aiohttp, so its cost is small and not the coordinator's.

`python -m bench.driver < job.json` prints one JSON result on stdout. Jobs (`mode`):

- `saga`: start `count` executions of a scenario's saga at `concurrency`, each with
  `POST /v1/sagas/<saga>/executions?wait=30s`, and check each answer (201, expected terminal status).
- `floor`: the same participant calls, made directly by a bare asyncio loop: same paths, bodies,
  headers, retries (same fixed backoff) and compensations, same concurrency. No coordinator.
- `start`: start executions without waiting (the recovery part's in-flight load).
- `get`: GET each of `paths` (round robin) `count` times at `concurrency`; every answer must be 200
  (`pause_s`: an untimed wait between requests, for a probe under another job's load).
- `pages`: from each of `paths`, follow `next_cursor` for `pages` pages, one request at a time.

Every loop is bounded by `count` and by `duration_s`; every request by `request_timeout_s`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from bench.scenarios import RETRY_INTERVAL_MS, RETRY_MAX_ATTEMPTS, SCENARIOS, STEPS, WAIT, Scenario

_MAX_ERRORS_KEPT = 5
_COMPENSATION_ATTEMPTS = 10


class Tally:
    """Latencies of successful operations and a sample of the failures."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.errors = 0
        self.error_samples: list[str] = []
        self.statuses: Counter[str] = Counter()

    def fail(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < _MAX_ERRORS_KEPT:
            self.error_samples.append(message)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by the nearest-rank method; None for no values."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[rank]


def summary(values: list[float]) -> dict[str, float | None]:
    """p50, p90, p99, max and mean of `values` (milliseconds)."""
    ordered = sorted(values)
    mean = sum(ordered) / len(ordered) if ordered else None
    return {
        "p50": percentile(ordered, 0.50),
        "p90": percentile(ordered, 0.90),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else None,
        "mean": mean,
    }


async def run_pool(
    concurrency: int,
    count: int,
    duration_s: float,
    one: Callable[[int], Awaitable[bool]],
    tally: Tally,
    *,
    pause_s: float = 0.0,
) -> float:
    """Run `one(i)` for i in 0..count-1 on `concurrency` workers until done or `duration_s` ends.

    With `pause_s`, each worker waits that long (untimed) between operations: a probe that samples
    latency under someone else's load without becoming a load itself. Returns the wall time from the
    first start to the last finish.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + duration_s
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count and loop.time() < deadline:
            index = next_index
            next_index += 1
            t0 = time.perf_counter()
            if await one(index):
                tally.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if pause_s:
                await asyncio.sleep(pause_s)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return loop.time() - started


def _session(concurrency: int, request_timeout_s: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=max(1, concurrency), limit_per_host=0, force_close=False)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=request_timeout_s),
        headers={"user-agent": "saga-bench"},
    )


async def _saga(job: dict[str, Any], tally: Tally) -> float:
    scenario = SCENARIOS[job["scenario"]]
    base = job["coordinator_url"].rstrip("/")
    url = f"{base}/v1/sagas/{scenario.saga}/executions?wait={job.get('wait', WAIT)}"
    prefix = job.get("prefix", "run")
    headers = {"content-type": "application/json"}
    async with _session(job["concurrency"], job["request_timeout_s"]) as session:

        async def one(index: int) -> bool:
            body = json.dumps({"input": {"i": f"{prefix}-{index}"}}).encode()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    payload = await response.read()
                    if response.status != 201:
                        tally.fail(f"HTTP {response.status}: {payload[:200]!r}")
                        return False
            except (aiohttp.ClientError, TimeoutError) as error:
                tally.fail(f"{type(error).__name__}: {error}")
                return False
            status = json.loads(payload).get("status")
            tally.statuses[str(status)] += 1
            if status != scenario.expected_status:
                tally.fail(f"execution ended {status!r}, expected {scenario.expected_status!r}")
                return False
            return True

        return await run_pool(job["concurrency"], job["count"], job["duration_s"], one, tally)


async def _start(job: dict[str, Any], tally: Tally) -> float:
    scenario = SCENARIOS[job["scenario"]]
    url = f"{job['coordinator_url'].rstrip('/')}/v1/sagas/{scenario.saga}/executions"
    prefix = job.get("prefix", "start")
    headers = {"content-type": "application/json"}
    async with _session(job["concurrency"], job["request_timeout_s"]) as session:

        async def one(index: int) -> bool:
            body = json.dumps({"input": {"i": f"{prefix}-{index}"}}).encode()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    payload = await response.read()
                    if response.status != 201:
                        tally.fail(f"HTTP {response.status}: {payload[:200]!r}")
                        return False
            except (aiohttp.ClientError, TimeoutError) as error:
                tally.fail(f"{type(error).__name__}: {error}")
                return False
            tally.statuses[str(json.loads(payload).get("status"))] += 1
            return True

        return await run_pool(job["concurrency"], job["count"], job["duration_s"], one, tally)


class FloorSaga:
    """One saga's calls without a coordinator: forward steps in order, retries, compensations."""

    def __init__(self, session: aiohttp.ClientSession, scenario: Scenario, base: str, execution_id: str) -> None:
        self.session = session
        self.scenario = scenario
        self.base = base
        self.execution_id = execution_id
        self.body = json.dumps({"i": execution_id}).encode()

    def _headers(self, step: int, direction: str) -> dict[str, str]:
        return {
            "Idempotency-Key": f"{self.execution_id}:s{step}:{direction}",
            "X-Saga-Execution-Id": self.execution_id,
            "X-Saga-Step": f"s{step}",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "content-type": "application/json",
        }

    async def _call(self, method: str, path: str, step: int, direction: str, body: bytes | None) -> int:
        async with self.session.request(
            method, self.base + path, data=body, headers=self._headers(step, direction)
        ) as response:
            await response.read()
            return response.status

    async def run(self) -> str:
        if self.scenario.parallel:
            return await self._run_group()
        done: list[int] = []
        for step in range(1, STEPS + 1):
            outcome = await self._forward(step)
            if outcome:
                done.append(step)
                continue
            for undone in reversed(done):
                if not await self._compensate(undone):
                    return "failed"
            return "compensated"
        return "completed"

    async def _run_group(self) -> str:
        """The steps side by side, as the coordinator runs a parallel group; undo what went through."""
        steps = range(1, STEPS + 1)
        outcomes = await asyncio.gather(*(self._forward(step) for step in steps))
        if all(outcomes):
            return "completed"
        undone = await asyncio.gather(*(self._compensate(s) for s, ok in zip(steps, outcomes, strict=True) if ok))
        return "compensated" if all(undone) else "failed"

    async def _forward(self, step: int) -> bool:
        for attempt in range(1, RETRY_MAX_ATTEMPTS + 1):
            status = await self._call("POST", self.scenario.action_path(step), step, "action", self.body)
            if 200 <= status < 300:
                return True
            retryable = status >= 500 or status in (408, 429)
            if not retryable or attempt == RETRY_MAX_ATTEMPTS:
                return False
            await asyncio.sleep(RETRY_INTERVAL_MS / 1000)
        return False

    async def _compensate(self, step: int) -> bool:
        for _ in range(_COMPENSATION_ATTEMPTS):
            status = await self._call("DELETE", self.scenario.compensation_path(step), step, "compensation", None)
            if 200 <= status < 300 or status in (404, 410):
                return True
            await asyncio.sleep(RETRY_INTERVAL_MS / 1000)
        return False


async def _floor(job: dict[str, Any], tally: Tally) -> float:
    scenario = SCENARIOS[job["scenario"]]
    base = job["participant_url"].rstrip("/")
    prefix = job.get("prefix", "floor")
    # A group's members each need a connection of their own, as the coordinator's do.
    connections = job["concurrency"] * (STEPS if scenario.parallel else 1)
    async with _session(connections, job["request_timeout_s"]) as session:

        async def one(index: int) -> bool:
            try:
                status = await FloorSaga(session, scenario, base, f"{prefix}-{index}").run()
            except (aiohttp.ClientError, TimeoutError) as error:
                tally.fail(f"{type(error).__name__}: {error}")
                return False
            tally.statuses[status] += 1
            if status != scenario.expected_status:
                tally.fail(f"floor saga ended {status!r}, expected {scenario.expected_status!r}")
                return False
            return True

        return await run_pool(job["concurrency"], job["count"], job["duration_s"], one, tally)


async def _get(job: dict[str, Any], tally: Tally) -> float:
    base = job["coordinator_url"].rstrip("/")
    paths: list[str] = job["paths"]
    async with _session(job["concurrency"], job["request_timeout_s"]) as session:

        async def one(index: int) -> bool:
            path = paths[index % len(paths)]
            try:
                async with session.get(base + path) as response:
                    payload = await response.read()
                    if response.status != 200:
                        tally.fail(f"GET {path}: HTTP {response.status}: {payload[:200]!r}")
                        return False
            except (aiohttp.ClientError, TimeoutError) as error:
                tally.fail(f"GET {path}: {type(error).__name__}: {error}")
                return False
            return True

        pause_s = float(job.get("pause_s", 0.0))
        return await run_pool(job["concurrency"], job["count"], job["duration_s"], one, tally, pause_s=pause_s)


async def _pages(job: dict[str, Any], tally: Tally) -> float:
    base = job["coordinator_url"].rstrip("/")
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + job["duration_s"]
    async with _session(1, job["request_timeout_s"]) as session:
        for first in job["paths"]:
            path: str | None = first
            for _ in range(job["pages"]):
                if path is None or loop.time() > deadline:
                    break
                t0 = time.perf_counter()
                try:
                    async with session.get(base + path) as response:
                        payload = await response.read()
                        if response.status != 200:
                            tally.fail(f"GET {path}: HTTP {response.status}: {payload[:200]!r}")
                            break
                except (aiohttp.ClientError, TimeoutError) as error:
                    tally.fail(f"GET {path}: {type(error).__name__}: {error}")
                    break
                tally.latencies_ms.append((time.perf_counter() - t0) * 1000)
                cursor = json.loads(payload).get("next_cursor")
                separator = "&" if "?" in first else "?"
                path = None if cursor is None else f"{first}{separator}cursor={quote(cursor, safe='')}"
    return loop.time() - started


_MODES: dict[str, Callable[[dict[str, Any], Tally], Awaitable[float]]] = {
    "saga": _saga,
    "floor": _floor,
    "start": _start,
    "get": _get,
    "pages": _pages,
}


async def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job and return its result (see the module doc)."""
    job.setdefault("request_timeout_s", 60.0)
    job.setdefault("duration_s", 60.0)
    tally = Tally()
    cpu0 = os.times()
    wall = await _MODES[job["mode"]](job, tally)
    cpu1 = os.times()
    ok = len(tally.latencies_ms)
    return {
        "mode": job["mode"],
        "ok": ok,
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "statuses": dict(tally.statuses),
        "wall_s": wall,
        "throughput": ok / wall if wall > 0 else 0.0,
        "latency_ms": summary(tally.latencies_ms),
        "driver_cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
    }


def main() -> None:
    """`python -m bench.driver < job.json`: print the result as one JSON line."""
    import uvloop

    job = json.loads(sys.stdin.read())
    result = uvloop.run(run_job(job))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
