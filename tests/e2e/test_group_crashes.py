"""SIGKILL while a parallel group's calls are in flight, in the forward and in the rollback phase,
on SQLite and PostgreSQL, and a replica takeover on PostgreSQL: every member is re-sent under its
own key and every execution ends as the group and pivot rules say."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.checker import check_group_invariants
from tests.e2e.group_workload import group_definition, start_group_sagas
from tests.e2e.harness import Coordinator, Participant, wait_until
from tests.e2e.workload import all_terminal
from tests.postgres import empty_postgres, throwaway_database

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
LATENCY_MS = 300


# PostgreSQL's run (17 s: the same engine code as SQLite's; its replicas have their own tests) goes
# with the slow tests, which CI runs after the suite.
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'saga.db'}"
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


def _sagas(tmp_path: Path, participant: Participant) -> Path:
    sagas = tmp_path / "sagas"
    sagas.mkdir(exist_ok=True)
    (sagas / "group-crash-test.yaml").write_text(group_definition(participant.url))
    return sagas


def _resent(coordinator: Coordinator, ids: list[str]) -> dict[str, int]:
    """How many attempts were re-sent after a restart, per step name."""
    counts: dict[str, int] = {}
    for eid in ids:
        for e in httpx.get(f"{coordinator.url}/v1/executions/{eid}/events", timeout=10).json()["items"]:
            if e["type"] == "attempt_resent":
                name = f"{e['step']}:{e['direction']}"
                counts[name] = counts.get(name, 0) + 1
    return counts


def _members_out(participant: Participant) -> bool:
    """Both members of a group have a call open at the participant right now."""
    keys = participant.ledger()["active_keys"]
    return all(any(k.endswith(f":{member}:action") for k in keys) for member in ("charge", "book"))


def _compensations_out(participant: Participant) -> bool:
    return any(k.endswith(":compensation") for k in participant.ledger()["active_keys"])


def test_sigkill_while_group_calls_are_in_flight_forward_and_rolling_back(tmp_path: Path, database_url: str) -> None:
    participant = Participant(latency_ms=LATENCY_MS)
    coordinator = Coordinator(
        database_url=database_url, sagas_dir=_sagas(tmp_path, participant), log_path=tmp_path / "coordinator.log"
    )
    try:
        coordinator.start()
        ids = start_group_sagas(coordinator.url, 12)

        # 1) forward: once a reserve answered, its group's members are out (they take LATENCY_MS)
        wait_until(lambda: _members_out(participant), timeout=30, what="a group's members in flight")
        coordinator.kill()
        coordinator.start()

        # 2) rollback: once pack said no, the members' compensations are out together
        def compensating() -> bool:
            r = httpx.get(f"{coordinator.url}/v1/executions", params={"status": "compensating"}, timeout=5)
            return bool(r.json()["items"])

        wait_until(compensating, timeout=30, what="an execution rolling its group back")
        wait_until(lambda: _compensations_out(participant), timeout=30, what="compensations in flight")
        coordinator.kill()
        coordinator.start()

        executions = all_terminal(coordinator, ids)
        check_group_invariants(executions, participant.ledger())
        resent = _resent(coordinator, ids)
        print(f"re-sent after restarts: {resent}")
        assert resent.get("charge:action", 0) and resent.get("book:action", 0), resent
        assert coordinator.kills == 2
    finally:
        coordinator.stop()
        participant.stop()


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    with throwaway_database("saga_group_replicas") as url:
        yield url


@pytest.mark.postgres
def test_a_replica_takes_over_a_group_in_flight(tmp_path: Path, shared_postgres: str) -> None:
    participant = Participant(latency_ms=LATENCY_MS)
    sagas = _sagas(tmp_path, participant)
    env = {"SAGA_LEASE_SECONDS": "3", "SAGA_SWEEP_SECONDS": "0.5"}
    a = Coordinator(database_url=shared_postgres, sagas_dir=sagas, log_path=tmp_path / "a.log", env=env)
    b = Coordinator(database_url=shared_postgres, sagas_dir=sagas, log_path=tmp_path / "b.log", env=env)
    try:
        a.start()
        b.start()
        ids = start_group_sagas(a.url, 12)
        wait_until(lambda: _members_out(participant), timeout=30, what="a group's members in flight")
        a.kill()
        killed_at = time.time()  # once `a` is dead: whatever arrives later comes from `b`
        executions = all_terminal(b, ids)
        ledger = participant.ledger()
        check_group_invariants(executions, ledger)
        after = [r for r in ledger["requests"] if r["execution"] in set(ids) and r["start"] > killed_at]
        assert after and {r["coordinator"] for r in after} == {r["coordinator"] for r in after[:1]}
        resent = _resent(b, ids)
        print(f"re-sent by the replica: {resent}")
        assert resent.get("charge:action", 0) and resent.get("book:action", 0), resent
    finally:
        a.stop()
        b.stop()
        participant.stop()
