"""A soak with a nemesis: steady load on two PostgreSQL replicas and a SQLite coordinator while faults land.

Replica A reaches PostgreSQL through the fault proxy, replica B directly; C runs alone on SQLite.
Every participant call goes to the ledger participant. A nemesis injects one fault at a time, at
random intervals, then undoes it:

- `kill9`: SIGKILL a coordinator, start it again a second later;
- `sigstop`: SIGSTOP a coordinator for 2-4 s, then SIGCONT;
- `pg-restart`: every connection on A's path to PostgreSQL is reset, as a server restart does to
  its clients. *Simulated*: the PostgreSQL server is shared with other work on the machine, so the
  soak never restarts it (tests/e2e/test_database_outage.py restarts a private cluster for real);
- `partition`: A's path to PostgreSQL is blackholed for 4-6 s, then healed;
- `hang`: the participant hangs for 3-7 s (callers time out; calls are dropped unapplied).

At the end every fault is undone, every acknowledged execution is awaited, and the e2e checker
(`tests/e2e/checker.py`) verifies all of them against the ledger. The report: sagas started and
finished, faults by kind, invariant violations (must be none), p99 of start requests and of saga
durations per window, and each coordinator's RSS per window.

    python -m tests.e2e.soak --minutes 2                     python -m bench --part soak --minutes 30
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.checker import check_invariants
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import Coordinator, Participant
from tests.e2e.workload import definition
from tests.postgres import PG_PORT, throwaway_database

LEASE_S, SWEEP_S, DB_TIMEOUT_S = 3.0, 0.5, 2.0
WINDOW_S = 10.0


@dataclass
class Started:
    id: str
    group: str
    at: float
    request_s: float


@dataclass
class Soak:
    """The processes of one soak and what it observed."""

    minutes: float
    rate: float
    rng: random.Random
    log: Callable[[str], None]
    root: Path
    participant: Participant = field(init=False)
    proxy: FaultProxy = field(init=False)
    coordinators: dict[str, Coordinator] = field(default_factory=dict)
    started: list[Started] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    rss: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    t0: float = field(default_factory=time.time)
    fault_log: list[dict[str, Any]] = field(default_factory=list)

    # -- processes -------------------------------------------------------------------------------

    def open(self, pg_url: str) -> None:
        self.participant = Participant(latency_ms=100)
        self.proxy = FaultProxy(PG_PORT).start()
        sagas = self.root / "sagas"
        sagas.mkdir()
        (sagas / "crash-test.yaml").write_text(definition(self.participant.url))
        env = {
            "SAGA_LEASE_SECONDS": str(LEASE_S),
            "SAGA_SWEEP_SECONDS": str(SWEEP_S),
            "SAGA_DB_TIMEOUT_SECONDS": str(DB_TIMEOUT_S),
            "SAGA_LOG_LEVEL": "WARNING",
        }
        urls = {
            "A": pg_url.replace(f":{PG_PORT}/", f":{self.proxy.port}/"),
            "B": pg_url,
            "C": f"sqlite:///{self.root / 'saga.db'}",
        }
        for name, url in urls.items():
            c = Coordinator(database_url=url, sagas_dir=sagas, log_path=self.root / f"{name}.log", env=env)
            c.start()
            self.coordinators[name] = c

    def close(self) -> None:
        for c in self.coordinators.values():
            c.stop()
        self.proxy.stop()
        self.participant.stop()

    # -- load ------------------------------------------------------------------------------------

    def _start_one(self, i: int) -> None:
        group = "sqlite" if i % 3 == 2 else "postgres"
        name = "C" if group == "sqlite" else self.rng.choice("AB")
        failing = "ship" if i % 2 else "none"
        began = time.time()
        try:
            r = httpx.post(
                f"{self.coordinators[name].url}/v1/sagas/crash-test/executions",
                json={"input": {"fail": failing, "order": f"o{i}"}},
                timeout=10,
            )
        except httpx.HTTPError:
            with self.lock:
                self.refused[name] += 1
            return
        with self.lock:
            if r.status_code == 201:
                self.started.append(Started(r.json()["id"], group, began, time.time() - began))
            else:
                self.refused[name] += 1

    def load(self, until: float) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            i = 0
            while time.time() < until:
                pool.submit(self._start_one, i)
                i += 1
                time.sleep(1 / self.rate)

    # -- the nemesis -----------------------------------------------------------------------------

    def nemesis(self, until: float) -> None:
        kinds = ["kill9", "sigstop", "pg-restart", "partition", "hang"]
        while time.time() < until:
            time.sleep(self.rng.uniform(1.0, 4.0))
            if time.time() >= until:
                break
            kind = self.rng.choice(kinds)
            target = self.rng.choice("ABC")
            aimed = f" {target}" if kind in ("kill9", "sigstop") else ""
            self.log(f"  {time.time() - self.t0:6.1f} s  {kind}{aimed}")
            self.fault_log.append({"at": time.time(), "kind": kind, "target": aimed.strip() or None})
            if kind == "kill9":
                self.coordinators[target].kill()
                time.sleep(1.0)
                self.coordinators[target].start()
            elif kind == "sigstop":
                self.coordinators[target].signal(signal.SIGSTOP)
                time.sleep(self.rng.uniform(2.0, 4.0))
                self.coordinators[target].signal(signal.SIGCONT)
            elif kind == "pg-restart":
                self.proxy.reset()
            elif kind == "partition":
                self.proxy.blackhole()
                time.sleep(self.rng.uniform(4.0, 6.0))
                self.proxy.heal()
            else:
                seconds = self.rng.uniform(3.0, 7.0)
                httpx.post(f"{self.participant.url}/_hang/{seconds:.1f}", timeout=5)
                time.sleep(seconds)  # one fault at a time
            self.faults[kind] += 1

    def sample_rss(self, until: float) -> None:
        while time.time() < until:
            row: dict[str, Any] = {"t_s": round(time.time() - self.t0, 1)}
            for name, c in self.coordinators.items():
                row[name] = _rss_mb(c)
            self.rss.append(row)
            time.sleep(WINDOW_S / 2)

    # -- the end ---------------------------------------------------------------------------------

    def settle(self) -> list[dict[str, Any]]:
        """Undo every fault, then await every acknowledged execution (on a replica of its database)."""
        self.proxy.heal()
        httpx.post(f"{self.participant.url}/_hang/0", timeout=5)
        for c in self.coordinators.values():
            assert c.process is not None
            c.signal(signal.SIGCONT)
        out = []
        with httpx.Client(timeout=70) as client:
            for s in self.started:
                url = self.coordinators["C" if s.group == "sqlite" else "B"].url
                deadline = time.time() + 120
                while True:
                    r = client.get(f"{url}/v1/executions/{s.id}", params={"wait": "30s"})
                    r.raise_for_status()
                    ex = r.json()
                    if ex["status"] in ("completed", "compensated", "failed") or time.time() > deadline:
                        break
                out.append(ex)
        return out


def _rss_mb(c: Coordinator) -> float | None:
    if c.process is None or c.process.poll() is not None:
        return None
    try:
        for line in Path(f"/proc/{c.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)


def _ms(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run(
    minutes: float, *, rate: float = 4.0, seed: int | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the soak for `minutes` (load and nemesis), then settle and check; the report."""
    seed = seed if seed is not None else random.randrange(1 << 30)
    with tempfile.TemporaryDirectory(prefix="saga-soak-") as scratch, throwaway_database("saga_soak") as pg_url:
        soak = Soak(minutes=minutes, rate=rate, rng=random.Random(seed), log=log, root=Path(scratch))
        try:
            soak.open(pg_url)
            soak.t0 = time.time()
            until = soak.t0 + minutes * 60
            log(f"soak: {minutes:g} min, {rate:g} sagas/s, seed {seed}")
            workers = [
                threading.Thread(target=soak.load, args=(until,), name="load"),
                threading.Thread(target=soak.sample_rss, args=(until,), name="rss"),
            ]
            for w in workers:
                w.start()
            soak.nemesis(until)
            for w in workers:
                w.join()
            executions = soak.settle()
            ledger = soak.participant.ledger()
        finally:
            soak.close()
    violations: list[str] = []
    try:
        check_invariants(executions, ledger)
    except AssertionError as error:
        violations.append(str(error)[:2000])
    # What a violation needs to be understood: every request (and hung one) of the keys at fault.
    suspects = set(ledger["overlaps"])
    details = [
        {**r, "hung": r in ledger.get("hung", [])}
        for r in [*ledger["requests"], *ledger.get("hung", [])]
        if r["key"] in suspects
    ]
    durations = {e["id"]: _ms(e["updated_at"]) - _ms(e["created_at"]) for e in executions}
    windows = []
    for k in range(int(minutes * 60 // WINDOW_S) + 1):
        lo = soak.t0 + k * WINDOW_S
        mine = [s for s in soak.started if lo <= s.at < lo + WINDOW_S]
        windows.append({
            "t_s": k * WINDOW_S,
            "started": len(mine),
            "start_p99_s": _p99([s.request_s for s in mine]),
            "saga_p99_s": _p99([durations[s.id] for s in mine if s.id in durations]),
        })
    report = {
        "minutes": minutes,
        "seed": seed,
        "started_at": soak.t0,
        "sagas_acknowledged": len(soak.started),
        "sagas_by_status": dict(Counter(e["status"] for e in executions)),
        "starts_refused": dict(soak.refused),
        "faults": dict(soak.faults),
        "faults_total": sum(soak.faults.values()),
        "participant_calls": len(ledger["requests"]),
        "calls_dropped_by_hangs": len(ledger.get("hung", [])),
        "violations": violations,
        "violation_requests": sorted(details, key=lambda r: r["start"]),
        "faults_at": soak.fault_log,
        "windows": windows,
        "rss_mb": soak.rss,
        "note": "pg-restart is simulated by resetting every connection on replica A's path (shared server)",
    }
    return report


def summary(report: dict[str, Any]) -> str:
    lines = [
        f"soak {report['minutes']:g} min (seed {report['seed']}): {report['sagas_acknowledged']} sagas "
        f"{report['sagas_by_status']}, starts refused {report['starts_refused']}",
        f"faults {report['faults']}; participant calls {report['participant_calls']}, "
        f"dropped by hangs {report['calls_dropped_by_hangs']}; violations {len(report['violations'])}",
        "  t(s)  started  start p99(s)  saga p99(s)",
    ]
    for w in report["windows"]:
        lines.append(f"  {w['t_s']:4.0f}  {w['started']:7d}  {w['start_p99_s']!s:>12}  {w['saga_p99_s']!s:>11}")
    rss = report["rss_mb"]
    if rss:
        shown = rss[:: max(1, len(rss) // 12)]
        lines.append("  RSS MB (A/B/C): " + ", ".join(f"{r['t_s']:.0f}s {r['A']}/{r['B']}/{r['C']}" for r in shown))
    lines += [f"  VIOLATION: {v}" for v in report["violations"]]
    for r in report["violation_requests"]:
        lines.append(
            f"    {r['start'] - report['started_at']:8.3f}-{r['end'] - report['started_at']:8.3f} s {r['key']} "
            f"by {r['coordinator']} {'hung' if r['hung'] else r.get('status')}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=4.0, help="sagas started per second")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args(argv)
    report = run(args.minutes, rate=args.rate, seed=args.seed)
    print(summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
