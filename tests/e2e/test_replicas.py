"""Several coordinators on one PostgreSQL: takeover after SIGKILL, fencing after SIGSTOP, shared idempotency."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.checker import check_invariants
from tests.e2e.harness import Coordinator, Participant
from tests.e2e.workload import all_terminal, definition, start_many
from tests.postgres import throwaway_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(240)]
LEASE_S, SWEEP_S = 3.0, 0.5


@pytest.fixture
def database() -> Iterator[str]:
    with throwaway_database("saga_replicas") as url:
        yield url


@pytest.fixture
def participant() -> Iterator[Participant]:
    p = Participant(latency_ms=300)
    yield p
    p.stop()


def _pair(tmp_path: Path, database: str, participant: Participant) -> tuple[Coordinator, Coordinator]:
    sagas = tmp_path / "sagas"
    sagas.mkdir(exist_ok=True)
    (sagas / "crash-test.yaml").write_text(definition(participant.url))
    env = {"SAGA_LEASE_SECONDS": str(LEASE_S), "SAGA_SWEEP_SECONDS": str(SWEEP_S)}
    a = Coordinator(database_url=database, sagas_dir=sagas, log_path=tmp_path / "a.log", env=env)
    b = Coordinator(database_url=database, sagas_dir=sagas, log_path=tmp_path / "b.log", env=env)
    a.start()
    b.start()
    return a, b


def test_a_killed_replica_is_taken_over_within_lease_and_sweep(
    tmp_path: Path, database: str, participant: Participant
) -> None:
    a, b = _pair(tmp_path, database, participant)
    try:
        ids = start_many(a.url, 30)
        time.sleep(0.5)
        killed_at = time.time()
        a.kill()
        executions = all_terminal(b, ids)
        ledger = participant.ledger()
        check_invariants(executions, ledger)
        mine = set(ids)
        before = [r for r in ledger["requests"] if r["execution"] in mine and r["start"] < killed_at]
        owners_before = {r["coordinator"] for r in before}
        after = [r for r in ledger["requests"] if r["execution"] in mine and r["start"] > killed_at]
        assert len(owners_before) == 1 and after, "A drove its executions, and someone resumed them"
        assert {r["coordinator"] for r in after}.isdisjoint(owners_before)
        takeover = min(r["start"] for r in after) - killed_at
        print(f"\ntakeover after SIGKILL: {takeover:.2f} s (lease {LEASE_S} s, sweep {SWEEP_S} s)")
        assert takeover <= LEASE_S + 2 * SWEEP_S + 3.0, "liveness bound: lease + sweep, with slack for a busy box"
    finally:
        a.stop()
        b.stop()


@pytest.mark.slow  # 15 s: CI runs it in its second step (`-m "slow or soak"`)
def test_a_paused_replica_is_fenced_when_it_wakes(tmp_path: Path, database: str, participant: Participant) -> None:
    a, b = _pair(tmp_path, database, participant)
    try:
        ids = start_many(a.url, 20)
        time.sleep(0.4)
        a.signal(signal.SIGSTOP)
        executions = all_terminal(b, ids)  # B takes over while A sleeps
        a.signal(signal.SIGCONT)
        resumed_at = time.time()
        time.sleep(3 * SWEEP_S + 2)  # A wakes, its calls return, its timers fire, it sweeps
        ledger = participant.ledger()
        check_invariants(executions, ledger)
        first = {r["coordinator"] for r in ledger["requests"] if r["start"] < resumed_at - 2 * LEASE_S}
        late_from_a = [r for r in ledger["requests"] if r["coordinator"] in first and r["start"] > resumed_at + 1.0]
        assert late_from_a == [], f"the paused replica sent new calls after it woke: {late_from_a[:3]}"
        log = (tmp_path / "a.log").read_text()
        assert "dropped" in log or "not sending" in log, "A noticed it had lost its executions"
        for ex in httpx.get(f"{a.url}/v1/executions", params={"limit": 100}, timeout=10).json()["items"]:
            assert ex["status"] in ("completed", "compensated")  # A answers with what B wrote
    finally:
        a.stop()
        b.stop()


def test_idempotent_starts_across_replicas_create_one_execution(
    tmp_path: Path, database: str, participant: Participant
) -> None:
    a, b = _pair(tmp_path, database, participant)
    body = {"input": {"fail": "none", "order": "same"}}

    def post(i: int) -> httpx.Response:
        url = (a if i % 2 else b).url
        return httpx.post(
            f"{url}/v1/sagas/crash-test/executions", json=body, headers={"Idempotency-Key": "order-1"}, timeout=20
        )

    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(pool.map(post, range(30)))
        assert {r.status_code for r in answers} <= {200, 201}
        assert sum(r.status_code == 201 for r in answers) == 1
        assert len({r.json()["id"] for r in answers}) == 1
        other = httpx.post(
            f"{a.url}/v1/sagas/crash-test/executions",
            json={"input": {"fail": "none", "order": "x"}},
            headers={"Idempotency-Key": "order-1"},
            timeout=10,
        )
        assert other.status_code == 409
        [done] = all_terminal(a, [answers[0].json()["id"]])
        assert done["status"] == "completed"
        assert sum(r["applied"] for r in participant.ledger()["requests"]) == 3
    finally:
        a.stop()
        b.stop()
