"""The benchmark run: processes, databases, the parts, and the outputs.

Parts (`--part`, repeatable): `throughput` (the scenario grid with its floor), `profile` (py-spy on
the coordinator under happy/SQLite/C=50), `memory` (RSS after 5k and 50k executions), `api` (GET,
list, key and attention latency with 1M executions stored), `purge` (the happy workload while
retention deletes 1M finished executions, against the same workload without), `recovery` (10k
in-flight executions, kill -9, restart) and `participants` (RSS and event-loop lag while 50 calls to
a misbehaving participant run at once, per misbehaviour). `soak` (`bench/soak.py`, `--minutes`) runs
on its own: two replicas on PostgreSQL and one on SQLite under steady load with a nemesis, then the
fault suite's checker; it writes `soak.json` and `soak.md`, not `latest.*`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import api_latency, databases, participant_faults, profiling, purge_load, report, soak
from bench.procs import PYTHON, SAGA, Processes, Usage, free_port, get_json, http, wait_until_up
from bench.scenarios import MEASURED, SCENARIOS, STEPS, Scenario, write_sagas

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PARTS = ("throughput", "profile", "memory", "api", "purge", "recovery", "participants", "soak")
MB = 1024 * 1024


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Coordinator:
    """One running `saga serve`."""

    child: subprocess.Popen[bytes]
    url: str
    usage: Usage
    log: Path
    startup_s: float


class Harness:
    """Owns every process and database of one run, and removes them all in `close()`."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs = Processes()
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.scratch = Path(args.results) / "tmp" / stamp
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.databases: list[databases.Database] = []
        self.participant_url = ""
        self.participant_usage: Usage | None = None
        self.sagas_dir = self.scratch / "sagas"

    # -- processes ---------------------------------------------------------------------------------

    def start_participant(self) -> None:
        port = free_port()
        log = self.scratch / "participant.log"
        child = self.procs.spawn([PYTHON, "-m", "bench.participant", "--port", str(port)], log=log)
        self.participant_url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{self.participant_url}/_counts", child, timeout_s=30, log=log)
        self.participant_usage = Usage(child.pid)
        write_sagas(self.sagas_dir, self.participant_url)

    def start_coordinator(
        self, db: databases.Database, name: str, *, wait: bool = True, env: dict[str, str] | None = None
    ) -> Coordinator:
        """`saga serve` on `db` (with `env` added, e.g. `SAGA_RETENTION`); with `wait`, once `/healthz`
        answers (startup includes recovery)."""
        port = free_port()
        log = self.scratch / f"coordinator-{name}.log"
        env = {
            "SAGA_ALLOWED_TARGETS": self.participant_url.removeprefix("http://"),
            "SAGA_LOG_LEVEL": self.args.coordinator_log_level,
            **(env or {}),
        }
        workers = self.args.workers if db.kind == "postgres" else 1
        if workers > 1:
            env.setdefault("SAGA_WORKERS", str(workers))
        argv = [SAGA, "serve", "--port", str(port), "--database-url", db.url, "--sagas-dir", str(self.sagas_dir)]
        child = self.procs.spawn(argv, log=log, env=env)
        url = f"http://127.0.0.1:{port}"
        startup = wait_until_up(f"{url}/healthz", child, timeout_s=self.args.startup_timeout, log=log) if wait else 0.0
        if wait and workers > 1:  # /healthz answers once one worker is up: wait for every one
            deadline = time.monotonic() + self.args.startup_timeout
            while log.read_text(errors="replace").count("listening on http") < workers:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{workers} workers did not all start; see {log}")
                time.sleep(0.1)
        return Coordinator(child=child, url=url, usage=Usage(child.pid), log=log, startup_s=startup)

    def stop_coordinator(self, coordinator: Coordinator, *, kill: bool = False) -> None:
        self.procs.stop(coordinator.child, kill=kill, timeout_s=30)

    def database(self, kind: str) -> databases.Database:
        db = databases.create(kind, self.args.pg_admin_url)
        self.databases.append(db)
        return db

    def drop(self, db: databases.Database) -> None:
        db.drop()
        if db in self.databases:
            self.databases.remove(db)

    def driver(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one driver job in its own process; its wall time is bounded by the job's duration."""
        timeout = float(job.get("duration_s", 60)) + float(job.get("request_timeout_s", 60)) + 60
        out = self.procs.run([PYTHON, "-m", "bench.driver"], timeout_s=timeout, stdin=json.dumps(job).encode())
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result

    def counts(self) -> dict[str, Any]:
        result: dict[str, Any] = get_json(f"{self.participant_url}/_counts")
        return result

    def reset(self) -> None:
        http("POST", f"{self.participant_url}/_reset", b"")

    def gate(self, open_: bool) -> None:
        http("POST", f"{self.participant_url}/_gate/{'open' if open_ else 'close'}", b"")

    def close(self) -> None:
        self.procs.stop_all()
        for db in list(self.databases):
            try:
                db.drop()
            except Exception as error:
                print(f"warning: could not drop {db.url}: {error}", file=sys.stderr)
        self.databases.clear()
        if not self.args.keep_scratch:
            shutil.rmtree(self.sagas_dir, ignore_errors=True)
            for log in self.scratch.glob("*.log"):
                _keep_tail(log, 1024 * 1024)

    # -- verification ------------------------------------------------------------------------------

    @staticmethod
    def verify(scenario: Scenario, result: dict[str, Any], counts: dict[str, Any]) -> list[str]:
        """Problems with a run: driver errors, or participant counts that are not exactly expected."""
        ok = result["ok"]
        problems = []
        if result["errors"]:
            problems.append(f"{result['errors']} failed sagas, e.g. {result['error_samples'][:2]}")
        if ok == 0:
            problems.append("no saga completed")
        paths: dict[str, Any] = counts["paths"]
        expected = scenario.expected_calls()
        for path, per_key in expected.items():
            got = paths.get(path)
            want = {"calls": ok * per_key, "keys": ok, "per_key": {str(per_key): ok}}
            if got is None:
                if ok:
                    problems.append(f"{path}: no calls, expected {ok * per_key}")
            elif got != want:
                problems.append(f"{path}: got {got}, expected {want}")
        problems += [f"{path}: unexpected {paths[path]['calls']} calls" for path in paths if path not in expected]
        return problems

    # -- the throughput grid -----------------------------------------------------------------------

    def cell_count(self, concurrency: int) -> int:
        if self.args.count:
            return int(self.args.count)
        if self.args.full:
            return {1: 400}.get(concurrency, 4000)
        return {1: 120}.get(concurrency, 1500)

    def cell_duration(self) -> float:
        if self.args.duration:
            return float(self.args.duration)
        return 20.0 if self.args.full else 6.0

    def run_cell(self, coordinator: Coordinator, db: str, scenario: Scenario, concurrency: int) -> dict[str, Any]:
        count, duration = self.cell_count(concurrency), self.cell_duration()
        base = {"scenario": scenario.name, "concurrency": concurrency, "count": count, "duration_s": duration}
        assert self.participant_usage is not None
        self.reset()
        floor = self.driver({**base, "mode": "floor", "participant_url": self.participant_url, "prefix": "floor"})
        floor_problems = self.verify(scenario, floor, self.counts())

        self.reset()
        cpu0, pcpu0 = coordinator.usage.cpu_s(), self.participant_usage.cpu_s()
        prefix = f"{db}-{concurrency}"
        saga = self.driver({**base, "mode": "saga", "coordinator_url": coordinator.url, "prefix": prefix})
        cpu1, pcpu1 = coordinator.usage.cpu_s(), self.participant_usage.cpu_s()
        rss = coordinator.usage.rss_bytes()
        problems = self.verify(scenario, saga, self.counts())
        ok = max(saga["ok"], 1)
        p50, floor_p50 = saga["latency_ms"]["p50"], floor["latency_ms"]["p50"]
        cell = {
            "db": db,
            "scenario": scenario.name,
            "concurrency": concurrency,
            "calls_per_saga": scenario.calls_per_saga,
            "saga": saga,
            "floor": floor,
            "throughput_ratio": saga["throughput"] / floor["throughput"] if floor["throughput"] else None,
            "latency_p50_ratio": p50 / floor_p50 if p50 and floor_p50 else None,
            "overhead_per_step_ms": (p50 - floor_p50) / STEPS if p50 is not None and floor_p50 is not None else None,
            "coordinator_cpu_ms_per_saga": 1000 * (cpu1 - cpu0) / ok,
            "coordinator_cpu_utilisation": (cpu1 - cpu0) / saga["wall_s"] if saga["wall_s"] else None,
            "participant_cpu_ms_per_saga": 1000 * (pcpu1 - pcpu0) / ok,
            "driver_cpu_ms_per_saga": 1000 * saga["driver_cpu_s"] / ok,
            "floor_driver_cpu_ms_per_saga": 1000 * floor["driver_cpu_s"] / max(floor["ok"], 1),
            "coordinator_rss_mb": rss / MB,
            "load_average_1m": round(os.getloadavg()[0], 2),
            "verified": not problems and not floor_problems,
            "problems": problems + [f"floor: {p}" for p in floor_problems],
        }
        return cell

    def warm_up(self, coordinator: Coordinator, scenarios: list[str]) -> None:
        for name in scenarios:
            job = {
                "mode": "saga",
                "coordinator_url": coordinator.url,
                "scenario": name,
                "concurrency": 10,
                "count": self.args.warmup,
                "duration_s": 20,
                "prefix": "warmup",
            }
            self.driver(job)

    def throughput(self) -> dict[str, Any]:
        scenarios = self.args.scenario or list(MEASURED)
        concurrencies = self.args.concurrency or ([1, 50, 200] if self.args.full else [1, 50])
        cells = []
        print(report.cell_table([]).splitlines()[0], flush=True)
        for kind in self.args.db:
            db = self.database(kind)
            coordinator = self.start_coordinator(db, f"throughput-{kind}")
            try:
                self.warm_up(coordinator, scenarios)
                for name in scenarios:
                    for concurrency in concurrencies:
                        cell = self.run_cell(coordinator, kind, SCENARIOS[name], concurrency)
                        cells.append(cell)
                        print(report.cell_table([cell]).splitlines()[2], flush=True)
                        for problem in cell["problems"]:
                            print(f"    FAILED: {problem}", flush=True)
            finally:
                self.stop_coordinator(coordinator)
                self.drop(db)
        return {
            "measured_at": now_iso(),
            "mode": "full" if self.args.full else "quick",
            "cells": cells,
            "note": "each cell: the floor first, then the coordinator, same participant, same concurrency",
        }

    # -- profile -----------------------------------------------------------------------------------

    def profile(self) -> dict[str, Any]:
        """py-spy on the coordinator under happy / C=50, per `--db`: collapsed stacks, a summary and an SVG.

        The SQLite run keeps its section at the top level (as before); other databases go under
        `by_database`.
        """
        results = {kind: self.profile_one(kind) for kind in self.args.db}
        first = results.get("sqlite") or next(iter(results.values()))
        return {**first, "by_database": results}

    def profile_one(self, kind: str) -> dict[str, Any]:
        """py-spy on the coordinator under happy / `kind` / C=50: collapsed stacks, a summary and an SVG."""
        seconds = self.args.profile_seconds
        py_spy = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
        db = self.database(kind)
        coordinator = self.start_coordinator(db, f"profile-{kind}")
        out = Path(self.args.results)
        raw = self.scratch / f"profile-happy-{kind}.collapsed"
        raw_gil = self.scratch / f"profile-happy-{kind}-gil.collapsed"
        svg = out / f"profile-happy-{kind}.svg"
        try:
            self.warm_up(coordinator, ["happy"])
            job = {
                "mode": "saga",
                "coordinator_url": coordinator.url,
                "scenario": "happy",
                "concurrency": 50,
                "count": 10_000_000,
                "duration_s": 3 * seconds + 10,
                "prefix": "profile",
            }
            holder: dict[str, Any] = {}
            load = threading.Thread(target=lambda: holder.update(self.driver(job)), daemon=True)
            self.reset()
            load.start()
            time.sleep(2)
            pid = str(coordinator.child.pid)
            common = ["record", "--pid", pid, "--duration", str(seconds), "--rate", "250", "--threads"]
            self.procs.run([py_spy, *common, "--format", "raw", "-o", str(raw)], timeout_s=seconds + 60)
            self.procs.run([py_spy, *common, "--gil", "--format", "raw", "-o", str(raw_gil)], timeout_s=seconds + 60)
            self.procs.run([py_spy, *common, "-o", str(svg)], timeout_s=seconds + 60)
            load.join(timeout=seconds * 3 + 200)
        finally:
            self.stop_coordinator(coordinator)
            self.drop(db)
        summary = profiling.summarise(raw)
        gil = profiling.summarise(raw_gil)
        text = (
            "== the thread holding the GIL (py-spy --gil): where the coordinator's Python CPU goes\n"
            + profiling.as_text(gil)
            + "\n== every thread not idle (py-spy default; includes the store thread waiting on fsync)\n"
            + profiling.as_text(summary)
        )
        (out / f"profile-happy-{kind}.txt").write_text(text)
        print(text)
        result = holder.get("saga", holder)
        return {
            "measured_at": now_iso(),
            "cell": f"happy, {kind}, C=50 (under py-spy: slower than the unprofiled cell)",
            "seconds": seconds,
            "svg": svg.name,
            "text": f"profile-happy-{kind}.txt",
            "load": {k: result.get(k) for k in ("ok", "errors", "throughput", "latency_ms")},
            "gil": gil,
            "all_threads": summary,
        }

    # -- memory ------------------------------------------------------------------------------------

    def memory(self) -> dict[str, Any]:
        """RSS after `--memory-small` and `--memory-large` completed executions (happy, SQLite, C=50)."""
        small, large = self.args.memory_small, self.args.memory_large
        chunk = small
        db = self.database(self.args.memory_db)
        coordinator = self.start_coordinator(db, f"memory-{self.args.memory_db}")
        samples = []
        problems: list[str] = []
        done = 0
        try:
            rss0 = coordinator.usage.rss_bytes()
            samples.append({"executions": 0, "rss_mb": rss0 / MB, "throughput": None})
            while done < large:
                count = min(chunk, large - done)
                self.reset()
                result = self.driver(
                    {
                        "mode": "saga",
                        "coordinator_url": coordinator.url,
                        "scenario": "happy",
                        "concurrency": 50,
                        "count": count,
                        "duration_s": 1200,
                        "prefix": f"mem-{done}",
                    }
                )
                problems += self.verify(SCENARIOS["happy"], result, self.counts())
                done += result["ok"]
                time.sleep(1.0)  # let in-flight bookkeeping settle before sampling
                sample = {
                    "executions": done,
                    "rss_mb": coordinator.usage.rss_bytes() / MB,
                    "throughput": result["throughput"],
                    "p50_ms": result["latency_ms"]["p50"],
                    "cpu_s": coordinator.usage.cpu_s(),
                }
                samples.append(sample)
                print(
                    f"  memory: {done:>6} executions  RSS {sample['rss_mb']:.1f} MB  "
                    f"{result['throughput']:.1f} sagas/s",
                    flush=True,
                )
                if result["ok"] == 0:
                    break
        finally:
            self.stop_coordinator(coordinator)
            self.drop(db)
        at_small = next((s for s in samples if s["executions"] >= small), None)
        at_large = samples[-1]
        ratio = at_large["rss_mb"] / at_small["rss_mb"] if at_small and at_large["executions"] >= large else None
        return {
            "measured_at": now_iso(),
            "db": self.args.memory_db,
            "small": small,
            "large": large,
            "samples": samples,
            "rss_small_mb": None if at_small is None else at_small["rss_mb"],
            "rss_large_mb": at_large["rss_mb"],
            "rss_ratio": ratio,
            "verified": not problems,
            "problems": problems[:10],
        }

    # -- API latency with many stored executions; purging them under load -------------------------

    def api(self) -> dict[str, Any]:
        """GET, list, key, attention and console latency with `--api-rows` stored (`bench/api_latency.py`)."""
        return api_latency.measure_api(self)

    def purge(self) -> dict[str, Any]:
        """The happy workload with and without retention purging (`bench/purge_load.py`)."""
        return purge_load.measure_purge(self)

    # -- misbehaving participants ------------------------------------------------------------------

    def participants(self) -> dict[str, Any]:
        """RSS and loop lag while 50 misbehaving calls run at once, per case (`bench/participant_faults.py`)."""
        return participant_faults.measure_participants(self)

    # -- recovery ----------------------------------------------------------------------------------

    def recovery(self) -> dict[str, Any]:
        out: dict[str, Any] = {"measured_at": now_iso(), "executions": self.args.recovery_executions, "databases": {}}
        for kind in self.args.db:
            out["databases"][kind] = self._recovery_on(kind, self.args.recovery_executions)
        return out

    def _recovery_on(self, kind: str, count: int) -> dict[str, Any]:
        scenario = SCENARIOS["recover"]
        db = self.database(kind)
        problems: list[str] = []
        try:
            coordinator = self.start_coordinator(db, f"recovery-{kind}-1")
            self.gate(False)
            self.reset()
            try:
                started = self.driver(
                    {
                        "mode": "start",
                        "coordinator_url": coordinator.url,
                        "scenario": "recover",
                        "concurrency": 50,
                        "count": count,
                        "duration_s": self.args.recovery_timeout,
                        "prefix": "rec",
                    }
                )
                time.sleep(1.0)
                before = self.counts()
            finally:
                self.stop_coordinator(coordinator, kill=True)
            if started["ok"] != count:
                problems.append(f"only {started['ok']} of {count} executions started: {started['error_samples']}")
            held = before["paths"].get(scenario.action_path(1), {}).get("calls", 0)
            print(
                f"  recovery/{kind}: {started['ok']} started ({started['throughput']:.0f}/s), "
                f"{held} first calls held open, coordinator killed",
                flush=True,
            )
            self.reset()
            self.gate(True)
            t0_wall, t0 = time.time(), time.monotonic()
            # Not waiting for /healthz: the API answers only once recovery has run; the clock starts at spawn.
            coordinator = self.start_coordinator(db, f"recovery-{kind}-2", wait=False)
            try:
                wait_until_up(
                    f"{coordinator.url}/healthz",
                    coordinator.child,
                    timeout_s=self.args.recovery_timeout,
                    log=coordinator.log,
                )
                up_s = time.monotonic() - t0
                all_terminal_s = None
                limit = t0 + self.args.recovery_timeout
                while time.monotonic() < limit:
                    running = get_json(f"{coordinator.url}/v1/executions?status=running&limit=1")["items"]
                    compensating = get_json(f"{coordinator.url}/v1/executions?status=compensating&limit=1")["items"]
                    if not running and not compensating:
                        all_terminal_s = time.monotonic() - t0
                        break
                    time.sleep(0.25)
                cpu_s = coordinator.usage.cpu_s()  # start-up and the whole recovery, until all terminal
                after = self.counts()
                completed = self._count_status(coordinator.url, "completed", count)
            finally:
                self.stop_coordinator(coordinator)
        finally:
            self.drop(db)
        first_at = after.get("first_at")
        first_resumed_s = None if first_at is None else first_at - t0_wall
        resent = after.get("times", {}).get(scenario.action_path(1))
        all_resent_s = None if resent is None else resent[1] - t0_wall
        if all_terminal_s is None:
            problems.append(f"not all terminal within {self.args.recovery_timeout}s")
        if completed != started["ok"]:
            problems.append(f"{completed} completed, expected {started['ok']}")
        ok = started["ok"]
        for step in (1, 2, 3):
            got = after["paths"].get(scenario.action_path(step), {})
            if got.get("keys") != ok or set(got.get("per_key", {})) != {"1"}:
                problems.append(f"{scenario.action_path(step)} after restart: {got}, expected each of {ok} keys once")
        result = {
            "started": ok,
            "start_rate": started["throughput"],
            "held_first_calls": held,
            "up_s": up_s,
            "first_resumed_s": first_resumed_s,
            "all_resent_s": all_resent_s,
            "all_terminal_s": all_terminal_s,
            "coordinator_cpu_s": cpu_s,
            "completed": completed,
            "verified": not problems,
            "problems": problems,
        }
        print(
            f"  recovery/{kind}: API up after {up_s:.1f}s, first call resumed after "
            f"{first_resumed_s if first_resumed_s is None else round(first_resumed_s, 2)}s, every held call re-sent "
            f"after {all_resent_s if all_resent_s is None else round(all_resent_s, 1)}s, all terminal after "
            f"{all_terminal_s if all_terminal_s is None else round(all_terminal_s, 1)}s, coordinator CPU {cpu_s:.1f}s; "
            f"{problems or 'verified'}",
            flush=True,
        )
        return result

    @staticmethod
    def _count_status(url: str, status: str, expected: int) -> int:
        total, cursor = 0, None
        for _ in range(expected // 500 + 10):
            query = "" if cursor is None else f"&cursor={cursor}"
            page = get_json(f"{url}/v1/executions?status={status}&limit=500{query}")
            total += len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        return total


def _keep_tail(path: Path, size: int) -> None:
    """Cut a log to its last `size` bytes (the coordinator logs every execution at INFO)."""
    if path.stat().st_size > size:
        with path.open("rb") as handle:
            handle.seek(-size, os.SEEK_END)
            tail = handle.read()
        path.write_bytes(tail)


# -- the command -----------------------------------------------------------------------------------


def machine_facts(kinds: list[str], pg_admin_url: str) -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    import psutil

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "databases": [databases.server_version(kind, pg_admin_url) for kind in kinds],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": commit,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Benchmark the saga coordinator.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="the throughput grid at C=1 and C=50 (default)")
    size.add_argument("--full", action="store_true", help="C=1, 50, 200 and every part (long)")
    parser.add_argument("--part", action="append", choices=PARTS, help="run only these parts (repeatable)")
    parser.add_argument("--db", action="append", choices=("sqlite", "postgres"), help="default: both")
    parser.add_argument("--scenario", action="append", choices=MEASURED, help="default: all of them")
    parser.add_argument("--concurrency", action="append", type=int, help="default: 1 and 50 (--full: also 200)")
    parser.add_argument("--count", type=int, help="sagas per cell (default 120 at C=1, 1500 above; --full more)")
    parser.add_argument("--duration", type=float, help="cap per cell in seconds (default 6; --full 20)")
    parser.add_argument("--warmup", type=int, default=40, help="sagas per scenario before measuring")
    parser.add_argument("--profile-seconds", type=int, default=20)
    parser.add_argument("--memory-small", type=int, default=5000)
    parser.add_argument("--memory-large", type=int, default=50000)
    parser.add_argument("--memory-db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--api-rows", type=int, default=1_000_000)
    parser.add_argument("--api-seeds", type=int, default=1000, help="real executions the API part clones")
    parser.add_argument("--api-failed", type=int, default=300, help="failed executions among --api-rows")
    parser.add_argument("--purge-rows", type=int, default=1_000_000, help="finished executions the purge part stores")
    parser.add_argument(
        "--purge-seconds", type=float, default=120.0, help="the happy workload's time, without and with purging"
    )
    parser.add_argument("--minutes", type=float, default=2.0, help="soak: how long the load and the nemesis run")
    parser.add_argument("--seed", type=int, help="soak: the nemesis's and the load's seed (default: random, printed)")
    parser.add_argument("--soak-rate", type=float, default=2.0, help="soak: sagas/s per coordinator")
    parser.add_argument("--recovery-executions", type=int, default=10_000)
    parser.add_argument("--recovery-timeout", type=float, default=900.0, help="seconds to wait for all terminal")
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument("--pg-admin-url", default=databases.DEFAULT_PG_ADMIN_URL)
    parser.add_argument(
        "--workers", type=int, default=1,
        help="SAGA_WORKERS of the coordinators on PostgreSQL (saga serve --workers N); CPU and RSS sum the workers",
    )
    parser.add_argument("--coordinator-log-level", default="INFO", help="SAGA_LOG_LEVEL of the coordinator")
    parser.add_argument("--results", default=str(RESULTS), help="where latest.json and latest.png go")
    parser.add_argument("--fresh", action="store_true", help="do not keep sections of latest.json not run now")
    parser.add_argument("--keep-scratch", action="store_true", help="keep the generated sagas folder")
    parser.add_argument(
        "--report-only", action="store_true", help="run nothing: rewrite the table, latest.md and latest.png"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.db = args.db or ["sqlite", "postgres"]
    parts = args.part or ([p for p in PARTS if p != "soak"] if args.full else ["throughput"])
    if "soak" in parts:
        if len(parts) > 1:
            build_parser().error("--part soak runs on its own")
        config = soak.SoakConfig(
            minutes=args.minutes, seed=args.seed, rate=args.soak_rate, results=Path(args.results),
            pg_admin_url=args.pg_admin_url,
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return soak.main(config)
    results_dir = Path(args.results)
    latest = results_dir / "latest.json"
    results: dict[str, Any] = {}
    if latest.exists() and not args.fresh:
        results = json.loads(latest.read_text())
    if args.report_only:
        results["bars"] = report.evaluate_bars(results)
        return _write_outputs(results, results_dir, [])
    results["machine"] = machine_facts(args.db, args.pg_admin_url)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    harness = Harness(args)
    print(
        f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
        f"Python {results['machine']['python']}, {', '.join(results['machine']['databases'])}"
    )
    failed = False
    try:
        harness.start_participant()
        for part in parts:
            print(f"\n== {part}", flush=True)
            results[part] = getattr(harness, part)()
            results[part]["commit"] = results["machine"]["commit"]
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        failed = True
    finally:
        harness.close()
    results["bars"] = report.evaluate_bars(results)
    results["generated_at"] = now_iso()
    report.write_json(harness.scratch / "results.json", results)
    code = _write_outputs(results, results_dir, parts)
    return 1 if failed else code


def _write_outputs(results: dict[str, Any], results_dir: Path, parts: list[str]) -> int:
    """latest.json, latest.md, latest.png and the terminal table; 1 if a cell run now failed verification."""
    latest = results_dir / "latest.json"
    report.write_json(latest, results)
    charted = report.write_chart(results_dir / "latest.png", results)
    (results_dir / "latest.md").write_text(report.markdown(results))
    cells = results.get("throughput", {}).get("cells", [])
    if cells:
        print("\n" + report.cell_table(cells))
    print("\nbars:\n" + report.bars_table(results["bars"]))
    print(f"\nwrote {latest}, latest.md" + (" and latest.png" if charted else ""))
    return 1 if any(not c["verified"] for c in cells if "throughput" in parts) else 0
