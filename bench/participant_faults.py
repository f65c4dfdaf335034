"""`python -m bench --part participants`: RSS and event-loop lag while 50 misbehaving calls run at once.

For each case of `bench/misbehaving.py` (served by its own process), a fresh caller process
(`python -m bench.participant_faults call ...`) builds the coordinator's real client and executor
(`build_client`, `HttpStepExecutor`, default `SAGA_MAX_RESPONSE_BYTES`), warms up with one ordinary
call, then sends 50 calls of the case at once. It reports its RSS before, its peak (VmHWM) and
after, the largest event-loop lag seen by `LoopLagSampler` (the sampler behind
`saga_event_loop_lag_seconds`) with the part of it the loop's thread was running (`held`: the rest
is the machine making the process wait for a CPU), the 1-minute load average, and the outcomes.
A fresh process per case keeps one case's peak out of the next one's. `ok` (a plain 200) is the
baseline. Figures, not asserts: the fault tests (`tests/integration/test_misbehaving_participants.py`)
hold the classification and the lag bound.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.misbehaving import BY_NAME, CASES, Case
from bench.procs import PYTHON, free_port
from coordinator.executor.classify import Happened

if TYPE_CHECKING:
    from bench.harness import Harness

AT_ONCE = 50
TIMEOUT_MS = 2000
BASELINE = Case("ok", "200 {} (the baseline)", Happened.ANSWERED, 200)


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _call(case: Case, port: int, cap: int) -> dict[str, Any]:
    from opentelemetry.sdk.metrics import MeterProvider

    from coordinator.core import CallSpec, StatusPattern
    from coordinator.executor import HttpStepExecutor, build_client
    from coordinator.ports import OutboundRequest
    from coordinator.telemetry import LoopLagSampler

    call = CallSpec(method="POST", origin="http://127.0.0.1", path_template="/", success=(StatusPattern("2xx"),))
    client = build_client(max_connections=200)
    executor = HttpStepExecutor(client, max_response_bytes=cap)

    def request(url: str) -> OutboundRequest:
        return OutboundRequest(method="POST", url=url, headers={}, body={"i": 1}, timeout_ms=TIMEOUT_MS, call=call)

    lag = LoopLagSampler(MeterProvider().get_meter("bench"))
    lag.start()
    await executor.send(request(f"http://127.0.0.1:{port}/warm-up"))
    await asyncio.sleep(0.2)
    before = _rss_mb("VmRSS")
    lag.reset_max()
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(executor.send(request(case.url(port))) for _ in range(AT_ONCE)))
    seconds = time.perf_counter() - started
    await lag.stop()
    await client.aclose()
    kinds = collections.Counter(f"{o.kind}{' (unknown)' if o.effect_unknown else ''}" for o in outcomes)
    return {
        "case": case.name,
        "what": case.what,
        "calls": AT_ONCE,
        "seconds": round(seconds, 3),
        "rss_before_mb": round(before, 1),
        "rss_peak_growth_mb": round(_rss_mb("VmHWM") - before, 1),
        "rss_after_growth_mb": round(_rss_mb("VmRSS") - before, 1),
        "max_loop_lag_ms": round(lag.max_lag_s * 1000, 1),
        "max_loop_held_ms": round(lag.max_held_s * 1000, 1),
        "load_1m": round(os.getloadavg()[0], 1),
        "outcomes": dict(kinds),
        "max_duration_ms": max(o.duration_ms or 0 for o in outcomes),
    }


def measure_participants(harness: Harness) -> dict[str, Any]:
    """Each case in a fresh caller process against one misbehaving server process."""
    cap = 256 * 1024
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "-m", "bench.misbehaving", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent,
    )
    rows: list[dict[str, Any]] = []
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("listening on ")
        for case in (BASELINE, *CASES):
            done = subprocess.run(
                [PYTHON, "-m", "bench.participant_faults", "call", "--case", case.name, "--port", str(port),
                 "--cap", str(cap)],
                capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent,
            )
            if done.returncode != 0:
                rows.append({"case": case.name, "error": done.stderr[-2000:]})
                print(f"  {case.name}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"  {row['case']:16} {row['seconds']:6.2f} s  RSS {row['rss_before_mb']:6.1f} MB, "
                f"peak +{row['rss_peak_growth_mb']:6.1f} MB, after +{row['rss_after_growth_mb']:6.1f} MB, "
                f"max lag {row['max_loop_lag_ms']:6.1f} ms (held {row['max_loop_held_ms']:5.1f}), "
                f"load {row['load_1m']:4.1f}  {row['outcomes']}",
                flush=True,
            )
    finally:
        server.kill()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
    return {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "calls_at_once": AT_ONCE,
        "max_response_bytes": cap,
        "timeout_ms": TIMEOUT_MS,
        "cases": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["call"])
    parser.add_argument("--case", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cap", type=int, default=256 * 1024)
    args = parser.parse_args()
    case = BASELINE if args.case == BASELINE.name else BY_NAME[args.case]
    print(json.dumps(asyncio.run(_call(case, args.port, args.cap))), flush=True)


if __name__ == "__main__":
    sys.exit(main())
