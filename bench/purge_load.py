"""The `purge` part: the happy workload while retention deletes a backlog of finished executions.

Per database, on one seeded database (`--purge-rows` finished executions, a few hundred failed):

1. **without purging**: the coordinator as shipped (no `SAGA_RETENTION`) runs the happy workload at
   C=50 for `--purge-seconds`, while a probe GETs one stored execution every 20 ms;
2. **purging**: restarted with `SAGA_RETENTION` short enough that every seeded execution is due and
   `SAGA_ARCHIVE_DIR` set, the same workload and probe, timed from the first archived batch (the
   coordinator's own retention job, 30 s after start, its batches sized and paced by
   `coordinator/engine/pacing.py`).

Compared within the run: sagas/s (bar: at least 0.8 x without purging), the probe's p99 (bar: at
most 2 x), and the database's size (`storage.footprint`) before, during and after each phase: with
purging it must stop growing, the new executions landing in the room the deleted ones left.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import storage
from bench.scenarios import SCENARIOS
from bench.seeding import Seeded, seed_database

if TYPE_CHECKING:
    from bench.databases import Database
    from bench.harness import Coordinator, Harness

MB = 1024 * 1024
RETENTION = "1m"
"""`SAGA_RETENTION` while purging: every seeded execution (the clones are shifted back 1 minute and
more, the real ones finished minutes before) is due; the workload's own become due a minute later."""
PROBE_PAUSE_S = 0.02
"""The GET probe's pause between requests: ~50 per second, a sample rather than a load."""
SAMPLE_EVERY_S = 10.0
"""How often the database's size is read during a phase."""
FIRST_PURGE_WAIT_S = 90.0
"""How long to wait for retention's first batch (its job runs 30 s after start)."""


def measure_purge(harness: Harness) -> dict[str, Any]:
    """The part: every database in `--db`, `--purge-rows` executions each."""
    from bench.harness import now_iso

    args = harness.args
    out: dict[str, Any] = {
        "measured_at": now_iso(),
        "rows": args.purge_rows,
        "seconds": args.purge_seconds,
        "retention": RETENTION,
        "databases": {},
    }
    for kind in args.db:
        out["databases"][kind] = _on(harness, kind)
    return out


def _on(harness: Harness, kind: str) -> dict[str, Any]:
    args = harness.args
    db = harness.database(kind)
    archive = harness.scratch / f"archive-{kind}"
    try:
        seeded = seed_database(harness, db, args.purge_rows, failed=args.api_failed, name="purge")
        before = storage.footprint(db)
        baseline = _phase(harness, db, seeded, "without", env={}, archive=None)
        env = {"SAGA_RETENTION": RETENTION, "SAGA_ARCHIVE_DIR": str(archive)}
        purging = _phase(harness, db, seeded, "purging", env=env, archive=archive)
    finally:
        harness.drop(db)
    lines = sum(1 for path in archive.glob("*.jsonl") for _ in path.open("rb")) if archive.exists() else 0
    archive_bytes = sum(path.stat().st_size for path in archive.glob("*.jsonl")) if archive.exists() else 0
    result = {
        "seeding": seeded.seeding,
        "storage_before": before,
        "without": baseline,
        "purging": purging,
        "archived_lines": lines,
        "archive_mb": archive_bytes / MB,
        "throughput_ratio": _ratio(purging["load"]["throughput"], baseline["load"]["throughput"]),
        "get_p99_ratio": _ratio(purging["probe"]["latency_ms"]["p99"], baseline["probe"]["latency_ms"]["p99"]),
    }
    _print(kind, result)
    return result


def _phase(
    harness: Harness, db: Database, seeded: Seeded, name: str, *, env: dict[str, str], archive: Path | None
) -> dict[str, Any]:
    """One coordinator run: warm up, (wait for the first purge), then workload + probe + size samples."""
    seconds = harness.args.purge_seconds
    coordinator = harness.start_coordinator(db, f"purge-{name}-{db.kind}", env=env)
    try:
        harness.warm_up(coordinator, ["happy"])
        waited = _wait_for_archive(archive, coordinator) if archive is not None else 0.0
        count0, size0 = storage.execution_count(db), storage.footprint(db)
        harness.reset()
        cpu0 = coordinator.usage.cpu_s()
        results: dict[str, dict[str, Any]] = {}
        load = _job(harness, results, "load", _load_job(coordinator, seconds, name))
        probe = _job(harness, results, "probe", _probe_job(coordinator, seconds, seeded))
        samples = _sample_sizes(db, seconds, [load, probe])
        for thread in (load, probe):
            thread.join(timeout=60)
        if set(results) != {"load", "probe"}:
            raise RuntimeError(f"purge/{db.kind} {name}: a driver did not answer, see {harness.scratch}")
        cpu1 = coordinator.usage.cpu_s()
        problems = harness.verify(SCENARIOS["happy"], results["load"], harness.counts())
        count1, size1 = storage.execution_count(db), storage.footprint(db)
    finally:
        harness.stop_coordinator(coordinator)
    created = results["load"]["ok"]
    return {
        "load": results["load"],
        "probe": results["probe"],
        "waited_for_first_purge_s": waited,
        "executions_before": count0,
        "executions_after": count1,
        "deleted": count0 + created - count1,
        "deleted_per_s": (count0 + created - count1) / results["load"]["wall_s"],
        "coordinator_cpu_utilisation": (cpu1 - cpu0) / results["load"]["wall_s"],
        "storage_before": size0,
        "storage_after": size1,
        "growth_mb": (size1["bytes"] - size0["bytes"]) / MB,
        "samples": samples,
        "verified": not problems and not results["probe"]["errors"],
        "problems": problems + results["probe"]["error_samples"],
    }


def _load_job(coordinator: Coordinator, seconds: float, name: str) -> dict[str, Any]:
    return {
        "mode": "saga",
        "coordinator_url": coordinator.url,
        "scenario": "happy",
        "concurrency": 50,
        "count": 10_000_000,
        "duration_s": seconds,
        "prefix": f"purge-{name}",
    }


def _probe_job(coordinator: Coordinator, seconds: float, seeded: Seeded) -> dict[str, Any]:
    # The newest tenth of the copies: retention deletes the oldest first, so these stay while it runs.
    ids = seeded.random_ids(random.Random(11), 3000, newest_share=0.1)
    return {
        "mode": "get",
        "coordinator_url": coordinator.url,
        "paths": [f"/v1/executions/{i}" for i in ids],
        "concurrency": 1,
        "count": 10_000_000,
        "duration_s": seconds,
        "pause_s": PROBE_PAUSE_S,
    }


def _job(harness: Harness, into: dict[str, dict[str, Any]], key: str, job: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        into[key] = harness.driver(job)

    thread = threading.Thread(target=run, name=f"purge-{key}", daemon=True)
    thread.start()
    return thread


def _sample_sizes(db: Database, seconds: float, jobs: list[threading.Thread]) -> list[dict[str, Any]]:
    """The database's size every `SAMPLE_EVERY_S` until the jobs end (bounded by their duration)."""
    started = time.monotonic()
    deadline = started + seconds + 120
    next_at = started + SAMPLE_EVERY_S
    samples = []
    while time.monotonic() < deadline:
        alive = [job for job in jobs if job.is_alive()]
        if not alive:
            break
        alive[0].join(timeout=max(0.0, next_at - time.monotonic()))
        if time.monotonic() >= next_at:
            samples.append({"t_s": round(time.monotonic() - started, 1), **storage.footprint(db)})
            next_at += SAMPLE_EVERY_S
    return samples


def _wait_for_archive(archive: Path, coordinator: Coordinator) -> float:
    """Seconds until retention archived its first batch (a file appears in the archive folder)."""
    started = time.monotonic()
    while time.monotonic() - started < FIRST_PURGE_WAIT_S:
        if archive.exists() and any(archive.glob("*.jsonl")):
            return time.monotonic() - started
        if coordinator.child.poll() is not None:
            raise RuntimeError(f"the coordinator exited while waiting for retention: see {coordinator.log}")
        time.sleep(0.5)
    raise RuntimeError(f"retention archived nothing within {FIRST_PURGE_WAIT_S:.0f}s: see {coordinator.log}")


def _ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value is not None and reference else None


def _print(kind: str, result: dict[str, Any]) -> None:
    for phase in ("without", "purging"):
        p = result[phase]
        load, probe = p["load"], p["probe"]
        size = p["storage_after"]
        extra = f", free pages {size['freelist_count']}" if kind == "sqlite" else f", dead tuples {size['dead_tuples']}"
        print(
            f"  purge/{kind} {phase:<8}: {load['ok']} sagas, {load['throughput']:.1f} sagas/s; GET one n={probe['ok']} "
            f"p99 {probe['latency_ms']['p99']:.1f} ms; deleted {p['deleted']} ({p['deleted_per_s']:.0f}/s); "
            f"size {p['storage_before']['bytes'] / MB:.0f} -> {size['bytes'] / MB:.0f} MB{extra}; "
            f"{'verified' if p['verified'] else p['problems'][:3]}",
            flush=True,
        )
    print(
        f"  purge/{kind}: sagas/s ratio {result['throughput_ratio']:.2f} (bar >= 0.8), GET p99 ratio "
        f"{result['get_p99_ratio']:.2f} (bar <= 2); archived {result['archived_lines']} lines",
        flush=True,
    )
