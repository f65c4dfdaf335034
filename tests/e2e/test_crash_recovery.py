"""SIGKILL the coordinator mid-flight, forward and rollback phases; every saga still ends right."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.checker import check_invariants
from tests.e2e.harness import Coordinator, Participant, wait_until
from tests.e2e.workload import all_terminal, definition
from tests.postgres import empty_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


# PostgreSQL's run (17 s: the same engine code as SQLite's; its replicas have their own tests) goes
# with the slow tests, which CI runs after the suite.
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'saga.db'}"
    url: str = request.getfixturevalue("postgres_url")
    empty_postgres(url)
    return url


def test_sigkill_during_forward_and_rollback_phases_loses_nothing(tmp_path: Path, database_url: str) -> None:
    seed = random.randrange(1_000_000)
    print(f"seed={seed}")
    rng = random.Random(seed)
    participant = Participant(latency_ms=150)
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "crash-test.yaml").write_text(definition(participant.url))
    coordinator = Coordinator(database_url=database_url, sagas_dir=sagas, log_path=tmp_path / "coordinator.log")
    try:
        coordinator.start()
        ids: list[str] = []
        with httpx.Client(base_url=coordinator.url, timeout=10) as client:
            for i in range(24):
                fail = "ship" if i % 2 else "none"
                r = client.post("/v1/sagas/crash-test/executions", json={"input": {"fail": fail, "order": f"o{i}"}})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])

        # 1) kill in the forward phase
        time.sleep(rng.uniform(0.2, 0.5))
        coordinator.kill()
        coordinator.start()

        # 2) kill while some executions are rolling back
        def compensating() -> bool:
            r = httpx.get(f"{coordinator.url}/v1/executions", params={"status": "compensating"}, timeout=5)
            return bool(r.json()["items"])

        wait_until(compensating, timeout=30, what="an execution in the rollback phase")
        coordinator.kill()
        coordinator.start()

        # 3) one more kill at a random instant
        time.sleep(rng.uniform(0.05, 0.4))
        coordinator.kill()
        coordinator.start()

        executions = all_terminal(coordinator, ids)
        check_invariants(executions, participant.ledger())
        assert coordinator.kills == 3
        # restarts re-sent calls that were in flight, under the same key
        resent = 0
        for eid in ids:
            events = httpx.get(f"{coordinator.url}/v1/executions/{eid}/events", timeout=10).json()["items"]
            resent += sum(e["type"] == "attempt_resent" for e in events)
        print(f"attempts re-sent after restarts: {resent}")
    finally:
        coordinator.stop()
        participant.stop()


ONE_SLOW_STEP = """
name: slow-step
steps:
  - name: reserve
    action: {{method: POST, url: "{url}/op/reserve", body: {{fail: "none"}}, timeout: 10s}}
    compensation: {{method: DELETE, url: "{url}/op/undo-reserve"}}
"""


@pytest.mark.parametrize(
    "db", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)  # the same engine code on both; PostgreSQL's run (15 s) goes with the slow tests
def test_a_call_cut_off_by_sigkill_is_sent_again_only_once_the_first_send_is_over(
    tmp_path: Path, request: pytest.FixtureRequest, db: str
) -> None:
    """The participant holds each first call 8 s and carries on after the coordinator dies (servers
    do not abort a handler when their client goes away). A restart takes less than that, so
    re-sending at once would put two attempts of the step in flight together: the re-send waits
    until the first send's 10 s timeout has run out (and a margin), then goes out under the same key."""
    if db == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'saga.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
        empty_postgres(database_url)
    participant = Participant(latency_ms=100, first_latency_ms=8000)
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "slow-step.yaml").write_text(ONE_SLOW_STEP.format(url=participant.url))
    coordinator = Coordinator(database_url=database_url, sagas_dir=sagas, log_path=tmp_path / "coordinator.log")
    try:
        coordinator.start()
        ids = []
        for i in range(3):
            r = httpx.post(f"{coordinator.url}/v1/sagas/slow-step/executions", json={"input": {"n": i}}, timeout=10)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        # Kill only once every call is at the participant, which holds each for 8 s.
        wait_until(lambda: participant.ledger()["active"] == 3, timeout=10, what="three calls in flight")
        coordinator.kill()
        restarted = time.monotonic()
        coordinator.start()
        print(f"restart took {time.monotonic() - restarted:.1f} s")
        executions = all_terminal(coordinator, ids)
        assert [e["status"] for e in executions] == ["completed"] * 3
        ledger = participant.ledger()
        assert ledger["overlaps"] == [], f"two attempts of one step were in flight at once: {ledger['overlaps']}"
        for eid in ids:
            sends = [r for r in ledger["requests"] if r["execution"] == eid]
            assert len(sends) == 2 and sends[1]["start"] >= sends[0]["end"], sends  # the first, then the re-send
            assert sum(r["applied"] for r in sends) == 1
            events = httpx.get(f"{coordinator.url}/v1/executions/{eid}/events", timeout=10).json()["items"]
            assert [e["type"] for e in events].count("attempt_resent") == 1
    finally:
        coordinator.stop()
        participant.stop()
