"""`python -m bench --part soak --minutes M`: a long run under steady load with a nemesis.

What runs (all on 127.0.0.1):

- the fault suite's ledger participant (`tests/e2e/participant.py`, 150 ms a call);
- two replicas on one throw-away PostgreSQL database, each reaching it through its own TCP fault
  proxy (`tests/e2e/faultproxy.py`), and one coordinator on its own SQLite file;
- a steady load of `--rate` sagas/s per coordinator (the replicas' share goes to either, and a
  start that fails is re-sent under its Idempotency-Key to the other): the crash-test saga
  (`tests/e2e/workload.py`) with 55 % completing, 20 % completing after a 503 "busy" answer and a
  retry, 25 % rolled back (at `charge` or at `ship`, some after a retry too);
- a nemesis, seeded (the seed is printed), one fault at a time at random intervals, each kind once
  in a shuffled first round so even a short run injects them all, then at random:
  `kill9` (SIGKILL a coordinator, restart it), `sigstop` (SIGSTOP, up to 2.5 leases, SIGCONT),
  `pg_restart` (the PostgreSQL server is SHARED with other work on this machine, so it is never
  restarted: its restart is simulated by both proxies resetting every connection and refusing new
  ones for a few seconds), `partition` (one replica's proxy blackholes, then heals) and
  `participant_hang` (SIGSTOP of the participant for less than a step's timeout, then SIGCONT).
  After each fault the nemesis waits until every coordinator answers `/readyz` 200 again.

At the end every acknowledged execution is awaited and checked, one at a time, by the fault
suite's single checker (`tests/e2e/checker.py`): terminal as its input says, nothing applied twice,
compensations exactly once and newest first, no two attempts of one step overlapping. The report
(stdout, `soak.json`, `soak.md` in `--results`): sagas, faults by kind, violations (must be 0),
p50/p99 latency per window (created to finished, and the start request's answer), the RSS of each
coordinator per window. Non-zero exit on any violation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import databases
from tests.e2e.checker import check_invariants
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import Coordinator, Participant
from tests.e2e.workload import definition

KINDS = ("kill9", "sigstop", "pg_restart", "partition", "participant_hang")
LEASE_S, SWEEP_S, DB_TIMEOUT_S = 3.0, 0.5, 2.0
STEP_TIMEOUT_S = 5.0
"""The crash-test saga's per-attempt timeout: a participant hang stays below it (see `participant_hang`)."""
PARTICIPANT_LATENCY_MS = 150
MIXES: tuple[tuple[float, dict[str, str]], ...] = (
    (0.55, {"fail": "none", "busy": "none"}),
    (0.10, {"fail": "none", "busy": "charge"}),
    (0.10, {"fail": "none", "busy": "ship"}),
    (0.10, {"fail": "ship", "busy": "none"}),
    (0.05, {"fail": "ship", "busy": "reserve"}),
    (0.10, {"fail": "charge", "busy": "none"}),
)
"""Inputs of the load: (share, input). `busy` names the op answering 503 once (a retry)."""


@dataclass
class SoakConfig:
    minutes: float = 2.0
    seed: int | None = None
    rate: float = 2.0
    """Sagas per second per coordinator (the two replicas together get twice this)."""
    results: Path = Path(__file__).resolve().parent / "results"
    pg_admin_url: str = databases.DEFAULT_PG_ADMIN_URL
    window_s: float | None = None
    """Latency and RSS windows; default 20 s up to 10 minutes, 60 s beyond."""
    drain_s: float = 180.0
    """After the load: how long executions may take to end."""


@dataclass
class Fault:
    kind: str
    target: str
    at_s: float
    """Seconds since the load began."""
    held_s: float
    """How long the fault lasted (down, stopped, refused, cut off, hung)."""
    ready_after_s: float | None = None
    """From the end of the fault until every coordinator answered /readyz 200 (None: not within 60 s)."""
    detail: str = ""


@dataclass
class Started:
    group: str
    key: str
    input: dict[str, str]
    sent_at: float
    """Wall clock of the first attempt to start it."""
    id: str | None = None
    answered_s: float | None = None
    """From the first attempt to the acknowledging answer (re-sends included)."""
    tries: int = 0
    last_error: str = ""


class RestartableProxy(FaultProxy):
    """The fault proxy, plus what a restarted PostgreSQL does: `refuse()` resets every connection
    and stops listening (connects are refused), `accept()` listens again on the same port."""

    def refuse(self) -> int:
        async def down() -> int:
            assert self._server is not None
            self._server.close()
            pipes = list(self._pipes)
            for pipe in pipes:
                self._close(pipe, rst=True)
            return len(pipes)

        return self._call(down())

    def accept(self) -> None:
        async def up() -> None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

        self._call(up())


def rss_mb(pid: int) -> float | None:
    """Resident memory of `pid` from /proc (no psutil: CI installs only the dev extra)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _epoch(iso: str | None) -> float | None:
    if iso is None:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Soak:
    """Owns every process, proxy, database and thread of one soak; `close()` removes them all."""

    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.seed = config.seed if config.seed is not None else random.SystemRandom().randrange(1 << 31)
        self.window_s = config.window_s or (20.0 if config.minutes <= 10 else 60.0)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.scratch = Path(config.results) / "tmp" / f"soak-{stamp}"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.participant: Participant | None = None
        self.database: databases.Database | None = None
        self.sqlite: databases.Database | None = None
        self.proxies: dict[str, RestartableProxy] = {}
        self.coordinators: dict[str, Coordinator] = {}
        self.groups: dict[str, list[str]] = {"postgres": ["a", "b"], "sqlite": ["sqlite"]}
        self.started: list[Started] = []
        self.faults: list[Fault] = []
        self.rss: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.t0 = 0.0
        self.lock = threading.Lock()
        self.stop_load = threading.Event()
        self.stop_all = threading.Event()
        self.notes: list[str] = []
        # One pool of connections for all the soak's requests: a client per request would build an
        # SSL context each time, which costs more CPU than the coordinators on this 2-core box.
        self.http = httpx.Client(timeout=5, limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))

    # -- setup and teardown --------------------------------------------------------------------

    def setup(self) -> None:
        self.participant = Participant(latency_ms=PARTICIPANT_LATENCY_MS)
        sagas = self.scratch / "sagas"
        sagas.mkdir(exist_ok=True)
        (sagas / "crash-test.yaml").write_text(definition(self.participant.url, busy=True))
        self.database = databases.create_postgres(self.config.pg_admin_url)
        self.sqlite = databases.create_sqlite()
        pg_port = int(self.database.url.rsplit(":", 1)[1].split("/", 1)[0])
        env = {
            "SAGA_LEASE_SECONDS": str(LEASE_S),
            "SAGA_SWEEP_SECONDS": str(SWEEP_S),
            "SAGA_DB_TIMEOUT_SECONDS": str(DB_TIMEOUT_S),
        }
        for name in ("a", "b"):
            proxy = RestartableProxy(pg_port).start()
            self.proxies[name] = proxy
            url = self.database.url.replace(f":{pg_port}/", f":{proxy.port}/")
            self.coordinators[name] = Coordinator(
                database_url=url, sagas_dir=sagas, log_path=self.scratch / f"{name}.log", env=env
            )
        self.coordinators["sqlite"] = Coordinator(
            database_url=self.sqlite.url, sagas_dir=sagas, log_path=self.scratch / "sqlite.log", env=env
        )
        for coordinator in self.coordinators.values():  # one after another: the first migrates
            coordinator.start()

    def close(self) -> None:
        self.stop_all.set()
        if self.participant is not None:
            with contextlib.suppress(OSError, AssertionError):
                os.kill(self.participant.process.pid, signal.SIGCONT)
            self.participant.stop()
        for coordinator in self.coordinators.values():
            with contextlib.suppress(OSError, AssertionError):
                coordinator.stop()
        for proxy in self.proxies.values():
            proxy.stop()
        for db in (self.database, self.sqlite):
            if db is not None:
                try:
                    db.drop()
                except Exception as error:  # a report, not a crash: the database is named
                    print(f"warning: could not drop {db.url}: {error}", flush=True)
        shutil.rmtree(self.scratch / "sagas", ignore_errors=True)
        self.http.close()

    # -- the load ------------------------------------------------------------------------------

    def _pick_input(self, rng: random.Random, i: int) -> dict[str, str]:
        roll, total = rng.random(), 0.0
        for share, chosen in MIXES:
            total += share
            if roll < total:
                return {**chosen, "order": f"o{i}"}
        return {**MIXES[0][1], "order": f"o{i}"}

    def _start_one(self, item: Started, targets: list[str]) -> None:
        deadline = item.sent_at + 90
        while not self.stop_all.is_set() and time.time() < deadline:
            coordinator = self.coordinators[targets[item.tries % len(targets)]]
            item.tries += 1
            try:
                answer = self.http.post(
                    f"{coordinator.url}/v1/sagas/crash-test/executions",
                    json={"input": item.input},
                    headers={"Idempotency-Key": item.key},
                    timeout=5,
                )
                if answer.status_code in (200, 201):
                    item.id = answer.json()["id"]
                    item.answered_s = time.time() - item.sent_at
                    return
                item.last_error = f"HTTP {answer.status_code}"
            except httpx.HTTPError as error:
                item.last_error = type(error).__name__
            time.sleep(0.5)

    def _load(self, group: str, rng: random.Random, pool: ThreadPoolExecutor) -> None:
        members = self.groups[group]
        rate = self.config.rate * len(members)
        i = 0
        next_at = time.monotonic()
        while not self.stop_load.is_set():
            key = f"soak-{group}-{i}"
            first = members[i % len(members)]
            targets = [first, *[m for m in members if m != first]]
            item = Started(group=group, key=key, input=self._pick_input(rng, i), sent_at=time.time())
            with self.lock:
                self.started.append(item)
            pool.submit(self._start_one, item, targets)
            i += 1
            next_at += rng.expovariate(rate)  # Poisson arrivals at `rate` a second
            self.stop_load.wait(max(0.0, next_at - time.monotonic()))

    def _sample_rss(self) -> None:
        while not self.stop_all.wait(5.0):
            now = time.time() - self.t0
            for name, coordinator in self.coordinators.items():
                process = coordinator.process
                if process is not None and process.poll() is None:
                    mb = rss_mb(process.pid)
                    if mb is not None:
                        self.rss[name].append((now, mb))

    # -- the nemesis ---------------------------------------------------------------------------

    def _all_ready(self, timeout: float) -> float | None:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if all(_ready(self.http, c) for c in self.coordinators.values()):
                return time.monotonic() - started
            time.sleep(0.2)
        return None

    def _restart(self, name: str, tries: int = 5) -> int:
        """Start a killed coordinator again as a supervisor would: a start that fails (it exits, or
        is not ready within 30 s) is killed and retried. Which start succeeded (1 = the first)."""
        coordinator = self.coordinators[name]
        for attempt in range(1, tries + 1):
            try:
                coordinator.start(wait=True)
                return attempt
            except AssertionError as error:
                last = str(error).strip().splitlines()[-1][:300]
                self.notes.append(f"{name}: start {attempt} after a kill failed: {last}")
                print(f"  {name}: start {attempt} after a kill failed: {last}", flush=True)
                process = coordinator.process
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
                time.sleep(1.0)
        raise RuntimeError(f"{name} did not start again in {tries} tries")

    def _inject(self, kind: str, rng: random.Random) -> Fault:
        at = time.time() - self.t0
        if kind == "kill9":
            name = rng.choice(sorted(self.coordinators))
            coordinator = self.coordinators[name]
            down = rng.uniform(0.5, 3.0)
            coordinator.kill()
            time.sleep(down)
            began = time.monotonic()
            tries = self._restart(name)
            detail = f"up again {time.monotonic() - began:.1f} s after the restart"
            return Fault(kind, name, at, down, detail=detail + (f", on start {tries}" if tries > 1 else ""))
        if kind == "sigstop":
            name = rng.choice(sorted(self.coordinators))
            held = rng.uniform(1.0, 2.5 * LEASE_S)
            self.coordinators[name].signal(signal.SIGSTOP)
            time.sleep(held)
            self.coordinators[name].signal(signal.SIGCONT)
            return Fault(kind, name, at, held)
        if kind == "pg_restart":
            held = rng.uniform(2.0, 5.0)
            reset = sum(proxy.refuse() for proxy in self.proxies.values())
            time.sleep(held)
            for proxy in self.proxies.values():
                proxy.accept()
            return Fault(kind, "a+b", at, held, detail=f"{reset} connections reset, connects refused meanwhile")
        if kind == "partition":
            name = rng.choice(sorted(self.proxies))
            held = rng.uniform(3.0, 10.0)
            self.proxies[name].blackhole()
            time.sleep(held)
            self.proxies[name].heal()
            return Fault(kind, name, at, held)
        if kind == "participant_hang":
            assert self.participant is not None
            # Below the step timeout minus the participant's own latency: a hang that outlived the
            # timeout would have the retry reach the participant while the stopped request is still
            # open there, which the ledger counts as an overlap the coordinator cannot prevent.
            held = rng.uniform(1.5, STEP_TIMEOUT_S - 1.5)
            os.kill(self.participant.process.pid, signal.SIGSTOP)
            time.sleep(held)
            os.kill(self.participant.process.pid, signal.SIGCONT)
            return Fault(kind, "participant", at, held)
        raise ValueError(kind)

    def _nemesis(self, rng: random.Random, until: float) -> None:
        first_round = rng.sample(KINDS, len(KINDS))
        short = self.config.minutes < 5
        gap_lo, gap_hi = (2.0, 6.0) if short else (5.0, 25.0)
        self.stop_all.wait(5.0)  # the load settles first
        while not self.stop_all.is_set():
            if self.stop_all.wait(rng.uniform(gap_lo, gap_hi)) or time.time() >= until:
                return
            kind = first_round.pop(0) if first_round else rng.choice(KINDS)
            try:
                fault = self._inject(kind, rng)
            except Exception as error:  # e.g. a restarted coordinator not up within 30 s: said, not hidden
                self.notes.append(f"{kind} at {time.time() - self.t0:.1f} s failed: {error!r:.300}")
                print(f"  nemesis: {self.notes[-1]}", flush=True)
                continue
            fault.ready_after_s = self._all_ready(60.0)
            with self.lock:
                self.faults.append(fault)
            ready = (
                "not ready within 60 s" if fault.ready_after_s is None else f"ready {fault.ready_after_s:.1f} s later"
            )
            print(
                f"  {fault.at_s:7.1f} s  {fault.kind:<16} {fault.target:<11} {fault.held_s:4.1f} s  {ready}"
                + (f"  ({fault.detail})" if fault.detail else ""),
                flush=True,
            )

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        rng = random.Random(self.seed)
        load_rngs = {group: random.Random(rng.random()) for group in self.groups}
        nemesis_rng = random.Random(rng.random())
        print(
            f"soak: {self.config.minutes:g} min, seed {self.seed}, {self.config.rate:g} sagas/s per coordinator, "
            f"lease {LEASE_S:g} s; logs in {self.scratch}",
            flush=True,
        )
        self.setup()
        self.t0 = time.time()
        until = self.t0 + 60 * self.config.minutes
        pool = ThreadPoolExecutor(max_workers=48, thread_name_prefix="soak-start")
        threads = [
            threading.Thread(target=self._load, args=(g, load_rngs[g], pool), daemon=True) for g in self.groups
        ]
        threads.append(threading.Thread(target=self._sample_rss, daemon=True))
        nemesis = threading.Thread(target=self._nemesis, args=(nemesis_rng, until), daemon=True)
        for thread in [*threads, nemesis]:
            thread.start()
        while time.time() < until:
            time.sleep(min(1.0, max(0.0, until - time.time())))
        self.stop_load.set()
        nemesis.join(timeout=120)  # a fault in progress ends and heals
        load_s = time.time() - self.t0
        pool.shutdown(wait=True)  # starts still being re-sent get their answer (or give up)
        ready = self._all_ready(60.0)
        if ready is None:
            self.notes.append("not every coordinator answered /readyz 200 within 60 s after the last fault")
        executions, missing = self._collect()
        ledger = self._ledger()
        self.stop_all.set()
        violations = self._check(executions, missing, ledger)
        return self._summary(load_s, executions, ledger, violations)

    def _ledger(self) -> dict[str, Any]:
        assert self.participant is not None
        data: dict[str, Any] = self.http.get(f"{self.participant.url}/_ledger", timeout=120).json()
        return data

    def _collect(self) -> tuple[list[dict[str, Any]], list[Started]]:
        """Every acknowledged execution once terminal (or as it stands at the drain's end)."""
        acked = [s for s in self.started if s.id is not None]
        deadline = time.monotonic() + self.config.drain_s
        out: dict[str, dict[str, Any]] = {}
        missing: list[Started] = []

        def fetch(item: Started) -> None:
            urls = [self.coordinators[n].url for n in self.groups[item.group]]
            for attempt in range(1000):
                remaining = deadline - time.monotonic()
                wait = max(0.0, min(20.0, remaining))
                try:
                    answer = self.http.get(
                        f"{urls[attempt % len(urls)]}/v1/executions/{item.id}",
                        params={"wait": f"{wait:.1f}s"},
                        timeout=wait + 10,
                    )
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    body: dict[str, Any] = answer.json()
                    if body["status"] in ("completed", "compensated", "failed") or remaining <= 0:
                        out[item.key] = body
                        return
                elif answer is not None and answer.status_code == 404:
                    missing.append(item)
                    return
                if remaining <= 0:
                    missing.append(item)
                    return
                time.sleep(0.2)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(fetch, acked))
        return list(out.values()), missing

    def _check(
        self, executions: list[dict[str, Any]], missing: list[Started], ledger: dict[str, Any]
    ) -> list[dict[str, str]]:
        """The fault suite's checker, one execution at a time (so every violation is counted and
        the work stays linear): each sees its own requests and overlaps."""
        violations = [
            {"execution": s.id or "", "key": s.key, "violation": "acknowledged, then not found or unreadable"}
            for s in missing
        ]
        requests: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for r in ledger["requests"]:
            requests[r["execution"]].append(r)
        overlaps: dict[str, list[str]] = defaultdict(list)
        for key in ledger["overlaps"]:
            overlaps[key.split(":", 1)[0]].append(key)
        for ex in executions:
            eid = ex["id"]
            try:
                check_invariants([ex], {"requests": requests.pop(eid, []), "overlaps": overlaps.pop(eid, [])})
            except AssertionError as error:
                violations.append({"execution": eid, "violation": str(error)[:500]})
        # Calls of executions whose start was never acknowledged: no terminal promise, but the key rules hold.
        rest = [r for rs in requests.values() for r in rs]
        try:
            check_invariants([], {"requests": rest, "overlaps": [k for ks in overlaps.values() for k in ks]})
        except AssertionError as error:
            violations.append({"execution": "(unacknowledged)", "violation": str(error)[:500]})
        return violations

    def _summary(
        self, load_s: float, executions: list[dict[str, Any]], ledger: dict[str, Any], violations: list[dict[str, str]]
    ) -> dict[str, Any]:
        acked = [s for s in self.started if s.id is not None]
        by_id = {s.id: s for s in acked}
        windows: dict[int, dict[str, list[float]]] = defaultdict(lambda: {"saga": [], "start": []})
        statuses: Counter[str] = Counter()
        slowest: list[dict[str, Any]] = []
        for ex in executions:
            statuses[f"{by_id[ex['id']].group}:{ex['status']}"] += 1
            created, ended = _epoch(ex.get("created_at")), _epoch(ex.get("updated_at"))
            if created is None or ended is None:
                continue
            slowest.append(
                {
                    "id": ex["id"],
                    "group": by_id[ex["id"]].group,
                    "status": ex["status"],
                    "input": by_id[ex["id"]].input,
                    "created_s": round(created - self.t0, 1),
                    "took_s": round(ended - created, 1),
                }
            )
            w = windows[int((created - self.t0) // self.window_s)]
            w["saga"].append(1000 * (ended - created))
        for s in acked:
            assert s.answered_s is not None
            windows[int((s.sent_at - self.t0) // self.window_s)]["start"].append(1000 * s.answered_s)
        rows = []
        for index in sorted(windows):
            lo, hi = index * self.window_s, (index + 1) * self.window_s
            w = windows[index]
            rss = {}
            for name, samples in self.rss.items():
                inside = [mb for t, mb in samples if lo <= t < hi]
                rss[name] = round(inside[-1], 1) if inside else None
            rows.append(
                {
                    "from_s": lo,
                    "sagas": len(w["saga"]),
                    "p50_ms": _round(percentile(w["saga"], 0.5)),
                    "p99_ms": _round(percentile(w["saga"], 0.99)),
                    "max_ms": _round(max(w["saga"], default=None)),
                    "start_p99_ms": _round(percentile(w["start"], 0.99)),
                    "faults": [f.kind for f in self.faults if lo <= f.at_s < hi],
                    "rss_mb": rss,
                }
            )
        unacked = [s for s in self.started if s.id is None]
        faults_by_kind = Counter(f.kind for f in self.faults)
        return {
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "minutes": self.config.minutes,
            "load_s": round(load_s, 1),
            "seed": self.seed,
            "rate_per_coordinator": self.config.rate,
            "lease_s": LEASE_S,
            "sweep_s": SWEEP_S,
            "db_timeout_s": DB_TIMEOUT_S,
            "window_s": self.window_s,
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
            "sagas": {
                "attempted": len(self.started),
                "acknowledged": len(acked),
                "unacknowledged": len(unacked),
                "unacknowledged_errors": dict(Counter(s.last_error for s in unacked)),
                "checked": len(executions),
                "by_group_and_status": dict(sorted(statuses.items())),
                "started_after_a_resend": sum(1 for s in acked if s.tries > 1),
                "participant_calls": len(ledger["requests"]),
                "busy_answers": sum(1 for r in ledger["requests"] if r.get("busy")),
            },
            "faults_by_kind": {kind: faults_by_kind.get(kind, 0) for kind in KINDS},
            "faults": [asdict(f) for f in self.faults],
            "slowest": sorted(slowest, key=lambda x: -x["took_s"])[:10],
            "violations": len(violations),
            "violation_samples": violations[:20],
            "windows": rows,
            "rss_mb": {name: [[round(t, 1), round(mb, 1)] for t, mb in samples] for name, samples in self.rss.items()},
            "notes": self.notes,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _ready(client: httpx.Client, coordinator: Coordinator) -> bool:
    try:
        return client.get(f"{coordinator.url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# -- the report ----------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    s = result["sagas"]
    names = sorted({n for row in result["windows"] for n in row["rss_mb"]})
    lines = [
        f"# Soak: {result['minutes']:g} minutes with a nemesis ({result['measured_at']})",
        "",
        f"Seed {result['seed']}; {result['rate_per_coordinator']:g} sagas/s per coordinator (two replicas on "
        f"PostgreSQL, each through its own fault proxy, and one on SQLite); lease {result['lease_s']:g} s, sweep "
        f"{result['sweep_s']:g} s, database deadline {result['db_timeout_s']:g} s; load average at the end "
        f"{result['load_average_end']}. The PostgreSQL server is shared, so `pg_restart` is simulated: both "
        "proxies reset every connection and refuse new ones for a few seconds.",
        "",
        f"**Invariant violations: {result['violations']}** (the fault suite's checker over every acknowledged "
        "execution).",
        "",
        f"Sagas: {s['attempted']} started, {s['acknowledged']} acknowledged ({s['started_after_a_resend']} after a "
        f"re-send), {s['checked']} checked, {s['unacknowledged']} never acknowledged "
        f"{s['unacknowledged_errors'] or ''}; {s['participant_calls']} participant calls, {s['busy_answers']} of them "
        "answered 503 busy (then retried).",
        "",
        "| group: status | executions |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in s["by_group_and_status"].items()],
        "",
        "| fault | injected |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in result["faults_by_kind"].items()],
        "",
        f"Latency per {result['window_s']:g} s window (by start time): saga = created to finished, as the "
        "coordinator recorded it; start = the start request's answer, re-sends included. RSS = the last "
        "sample (every 5 s) in the window.",
        "",
        "| from | sagas | p50 ms | p99 ms | max ms | start p99 ms | faults | "
        + " | ".join(f"RSS {n} MB" for n in names)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(names),
    ]
    for row in result["windows"]:
        rss = " | ".join(str(row["rss_mb"].get(n) if row["rss_mb"].get(n) is not None else "-") for n in names)
        lines.append(
            f"| {row['from_s']:g} s | {row['sagas']} | {row['p50_ms']} | {row['p99_ms']} | {row['max_ms']} | "
            f"{row['start_p99_ms']} | {', '.join(row['faults']) or ''} | {rss} |"
        )
    lines += ["", "| at | fault | target | held s | ready again s | detail |", "|---|---|---|---|---|---|"]
    for f in result["faults"]:
        ready = "-" if f["ready_after_s"] is None else f"{f['ready_after_s']:.1f}"
        lines.append(
            f"| {f['at_s']:.1f} s | {f['kind']} | {f['target']} | {f['held_s']:.1f} | {ready} | {f['detail']} |"
        )
    lines += ["", "The slowest executions:", "", "| id | group | status | input | created at | took s |"]
    lines.append("|---|---|---|---|---|---|")
    for x in result["slowest"]:
        lines.append(
            f"| `{x['id']}` | {x['group']} | {x['status']} | fail={x['input']['fail']} busy={x['input']['busy']} | "
            f"{x['created_s']} s | {x['took_s']} |"
        )
    if result["violation_samples"]:
        lines += ["", "Violations (first 20):", ""]
        lines += [f"- `{v['execution']}`: {v['violation']}" for v in result["violation_samples"]]
    if result["notes"]:
        lines += ["", *[f"- {n}" for n in result["notes"]]]
    return "\n".join(lines) + "\n"


def main(config: SoakConfig, *, say: Callable[[str], None] = print) -> int:
    """Run one soak, write `soak.json` and `soak.md` into `config.results`; 1 on any violation."""
    soak = Soak(config)
    try:
        result = soak.run()
    finally:
        soak.close()
    results = Path(config.results)
    results.mkdir(parents=True, exist_ok=True)
    (results / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    (results / "soak.md").write_text(text)
    say(text)
    say(f"wrote {results / 'soak.json'} and soak.md")
    return 1 if result["violations"] else 0
