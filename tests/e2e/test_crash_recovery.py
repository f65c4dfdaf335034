"""SIGKILL the coordinator mid-flight, forward and rollback phases; every saga still ends right."""

from __future__ import annotations

import itertools
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import Coordinator, Participant, wait_until
from tests.postgres import empty_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

STEPS = ["reserve", "charge", "ship"]


def _definition(participant_url: str) -> str:
    steps = []
    for name in STEPS:
        steps.append(
            f"""
  - name: {name}
    action:
      method: POST
      url: "{participant_url}/op/{name}"
      body: {{fail: "{{{{ input.fail }}}}", order: "{{{{ input.order }}}}"}}
      timeout: 5s
    compensation:
      method: DELETE
      url: "{participant_url}/op/undo-{name}"
    retry: {{max_attempts: 3, initial_interval: 100ms, jitter: none}}"""
        )
    return "name: crash-test\ndescription: three steps, each undoable\nsteps:" + "".join(steps) + "\n"


def _check_invariants(executions: list[dict[str, Any]], ledger: dict[str, Any]) -> None:
    requests = ledger["requests"]
    assert ledger["overlaps"] == [], f"two attempts of one step were in flight at once: {ledger['overlaps']}"
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        by_key[r["key"]].append(r)
    for key, rs in by_key.items():
        assert sum(r["applied"] for r in rs) <= 1, f"{key} applied twice"
        spans = sorted((r["start"], r["end"]) for r in rs)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"attempts of {key} overlapped in time"
    for ex in executions:
        eid = ex["id"]
        fail = ex["input"]["fail"]
        applied = {r["key"] for r in requests if r["execution"] == eid and r["applied"]}
        if fail == "none":
            assert ex["status"] == "completed", ex
            assert applied == {f"{eid}:{s}:action" for s in STEPS}, (eid, applied)
        else:
            assert ex["status"] == "compensated", ex
            assert fail == "ship"
            expected_forward = {f"{eid}:reserve:action", f"{eid}:charge:action"}
            expected_undo = {f"{eid}:reserve:compensation", f"{eid}:charge:compensation"}
            assert applied == expected_forward | expected_undo, (eid, applied)
            undo = sorted(
                (r["end"], r["step"]) for r in requests if r["execution"] == eid and r["op"].startswith("undo-")
                and r["applied"]
            )
            assert [s for _, s in undo] == ["charge", "reserve"], f"{eid} compensated out of order: {undo}"
        # every key the coordinator used for this execution was seen by the participant
        seen = {r["key"] for r in requests if r["execution"] == eid}
        assert all(k.startswith(f"{eid}:") for k in seen)


def _all_terminal(coordinator: Coordinator, ids: list[str]) -> list[dict[str, Any]]:
    out = []
    for eid in ids:
        r = httpx.get(f"{coordinator.url}/v1/executions/{eid}", params={"wait": "30s"}, timeout=40)
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
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
    (sagas / "crash-test.yaml").write_text(_definition(participant.url))
    coordinator = Coordinator(
        database_url=database_url, sagas_dir=sagas, log_path=tmp_path / "coordinator.log"
    )
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

        executions = _all_terminal(coordinator, ids)
        _check_invariants(executions, participant.ledger())
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
