"""`saga serve --workers N`: N replicas on one port under a supervisor, on a real PostgreSQL.

Two workers serve one port; a worker killed with SIGKILL loses nothing (the other takes its
executions over, the supervisor starts a new one) and no call is sent more often than the history
records an attempt of it; SIGTERM stops every worker gracefully; a supervisor that dies takes
its workers with it. On SQLite the option is refused.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.checker import check_invariants
from tests.e2e.harness import Coordinator, Participant, wait_until
from tests.e2e.workload import all_terminal, definition
from tests.postgres import throwaway_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(240)]
ENV = {"SAGA_WORKERS": "2", "SAGA_LEASE_SECONDS": "3", "SAGA_SWEEP_SECONDS": "0.5", "SAGA_LOG_FORMAT": "text"}


@pytest.fixture
def database() -> Iterator[str]:
    with throwaway_database("saga_workers") as url:
        yield url


@pytest.fixture
def participant() -> Iterator[Participant]:
    p = Participant(latency_ms=300)
    yield p
    p.stop()


@pytest.fixture
def supervisor(tmp_path: Path, database: str, participant: Participant) -> Iterator[Coordinator]:
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "crash-test.yaml").write_text(definition(participant.url))
    coordinator = Coordinator(database_url=database, sagas_dir=sagas, log_path=tmp_path / "serve.log", env=ENV)
    try:
        # Inside the try: a start that times out must still stop the supervisor. A supervisor and
        # two workers start slower than one process on a busy box: wait longer than the harness.
        coordinator.start(wait=False)
        wait_until(lambda: _listening(coordinator) >= 2, timeout=90, what="both workers listening")
        yield coordinator
    finally:
        coordinator.stop()
        # The supervisor is gone; so must its workers be (they watch its pipe).
        wait_until(lambda: not _workers_alive(coordinator), timeout=30, what="the workers to exit")


def _listening(coordinator: Coordinator) -> int:
    return coordinator.log_path.read_text().count("listening on http://")


def _workers(coordinator: Coordinator) -> list[int]:
    """Process ids whose parent is the supervisor (read from /proc)."""
    assert coordinator.process is not None
    parent = coordinator.process.pid
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(entry))
    return found


_SEEN: dict[int, list[int]] = {}


def _workers_alive(coordinator: Coordinator) -> bool:
    assert coordinator.process is not None
    pids = _SEEN.get(coordinator.process.pid, [])
    return any(_stat(pid) for pid in pids)


def _stat(pid: int) -> str:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return "" if text.rsplit(")", 1)[1].split()[0] == "Z" else text


def _remember(coordinator: Coordinator, pids: list[int]) -> None:
    assert coordinator.process is not None
    _SEEN.setdefault(coordinator.process.pid, []).extend(pids)


def _start_spread(url: str, count: int, *, fail_every: int = 2) -> list[str]:
    """Start `count` executions over separate connections, so the kernel hands them to either worker."""

    def one(i: int) -> str:
        failing = "ship" if fail_every and i % fail_every else "none"
        with httpx.Client(base_url=url, timeout=20, headers={"Connection": "close"}) as client:
            r = client.post("/v1/sagas/crash-test/executions", json={"input": {"fail": failing, "order": f"o{i}"}})
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, range(count)))


def _drivers(ledger: dict[str, Any], ids: list[str]) -> set[str]:
    mine = set(ids)
    return {r["coordinator"] for r in ledger["requests"] if r["execution"] in mine}


def _recorded_attempts(url: str, eid: str) -> Counter[str]:
    """Per idempotency key, the attempts the history says were started or re-sent."""
    counts: Counter[str] = Counter()
    r = httpx.get(f"{url}/v1/executions/{eid}/events", params={"limit": 500}, timeout=20)
    assert r.status_code == 200, r.text
    for event in r.json()["items"]:
        if event["type"] in ("attempt_started", "attempt_resent"):
            counts[f"{eid}:{event['step']}:{event['direction']}"] += 1
    return counts


def test_two_workers_share_a_port_lose_nothing_to_a_kill_and_stop_on_sigterm(
    supervisor: Coordinator, participant: Participant
) -> None:
    # One supervisor for the whole story: each start of two workers costs seconds on a busy box.
    first = _workers(supervisor)
    _remember(supervisor, first)
    assert len(first) == 2

    # 1. Both workers accept on the one port, and every call is sent exactly once.
    ids: list[str] = []
    for _ in range(5):  # which worker accepts is the kernel's choice: start until both drove some
        ids += _start_spread(supervisor.url, 16)
        executions = all_terminal(supervisor, ids)
        if len(_drivers(participant.ledger(), ids)) == 2:
            break
    ledger = participant.ledger()
    assert len(_drivers(ledger, ids)) == 2, "both workers accepted starts on the one port"
    check_invariants(executions, ledger)
    calls = Counter(r["key"] for r in ledger["requests"] if r["execution"] in set(ids))
    assert set(calls.values()) == {1}, f"a call was sent twice: {[k for k, n in calls.items() if n > 1]}"
    expected = sum(3 if ex["input"]["fail"] == "none" else 3 + 2 for ex in executions)
    assert sum(calls.values()) == expected, "exactly the calls the sagas need, no more"

    # 2. SIGKILL one worker mid-flight: the supervisor replaces it, and its executions finish.
    ids = _start_spread(supervisor.url, 30)
    wait_until(lambda: participant.ledger()["active"] > 0, timeout=20, what="calls in flight")
    os.kill(first[0], signal.SIGKILL)
    killed_at = time.time()
    wait_until(lambda: len(set(_workers(supervisor)) - set(first)) == 1, timeout=30, what="a replacement worker")
    _remember(supervisor, _workers(supervisor))
    executions = all_terminal(supervisor, ids)
    ledger = participant.ledger()
    check_invariants(executions, ledger)
    mine = set(ids)
    calls = Counter(r["key"] for r in ledger["requests"] if r["execution"] in mine)
    for eid in ids:
        recorded = _recorded_attempts(supervisor.url, eid)
        for key, sent in calls.items():
            if key.startswith(eid + ":"):
                # A kill between the write-ahead and the send leaves a recorded attempt unsent;
                # the reverse, a call sent without a recorded attempt, would be a duplicate.
                assert sent <= recorded[key], f"{key} sent {sent} times, {recorded[key]} attempts recorded"
    assert any(r["start"] > killed_at for r in ledger["requests"] if r["execution"] in mine)
    assert f"(pid {first[0]}) exited with signal SIGKILL" in supervisor.log_path.read_text()

    # 3. SIGTERM: every worker finishes its calls in flight, hands its leases back and exits; status 0.
    workers = _workers(supervisor)
    _start_spread(supervisor.url, 6, fail_every=0)  # calls in flight when the signal comes
    supervisor.signal(signal.SIGTERM)
    assert supervisor.exited(timeout=60) == 0, supervisor.log_path.read_text()[-3000:]
    wait_until(lambda: not any(_stat(pid) for pid in workers), timeout=10, what="workers gone")
    log = supervisor.log_path.read_text()
    assert log.count("shutdown complete") == 2, log[-3000:]  # the SIGKILLed worker never said it
    assert "every worker stopped" in log
