"""Named crash points (`os._exit` at each step of load-decide-commit-dispatch), then a restart."""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.e2e.checker import check_invariants
from tests.e2e.harness import Coordinator, Participant, wait_until
from tests.e2e.workload import all_terminal, definition, start_many

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
CRASHED = 137


def _setup(tmp_path: Path, participant: Participant, name: str = "crash-test") -> Coordinator:
    sagas = tmp_path / "sagas"
    sagas.mkdir(exist_ok=True)
    (sagas / f"{name}.yaml").write_text(definition(participant.url).replace("name: crash-test", f"name: {name}"))
    return Coordinator(
        database_url=f"sqlite:///{tmp_path / 'saga.db'}", sagas_dir=sagas, log_path=tmp_path / "coordinator.log"
    )


@pytest.mark.parametrize("point", ["load", "before_commit", "after_commit", "before_send", "after_response"])
def test_a_crash_at_each_point_loses_nothing_and_sends_no_step_twice_at_once(tmp_path: Path, point: str) -> None:
    participant = Participant(latency_ms=50)
    coordinator = _setup(tmp_path, participant)
    try:
        coordinator.start(extra_env={"SAGA_FAULT_POINT": point, "SAGA_FAULT_NTH": "5"})
        ids: list[str] = []
        for i in range(6):  # half complete, half roll back; the crash may cut the starts short
            with contextlib.suppress(httpx.HTTPError):
                ids += start_many(coordinator.url, 1, fail="ship" if i % 2 else "none", key_prefix=f"k{i}")
        assert coordinator.exited(timeout=20) == CRASHED, f"crash point {point} was never reached"
        coordinator.start()
        executions = all_terminal(coordinator, ids)
        ledger = participant.ledger()
        check_invariants(executions, ledger)
        sends = Counter(r["key"] for r in ledger["requests"])
        assert max(sends.values()) <= 2, f"a key was sent more than once per crash: {sends.most_common(3)}"
    finally:
        coordinator.stop()
        participant.stop()


def test_a_crash_between_storing_and_answering_a_start_is_repaired_by_the_idempotency_key(tmp_path: Path) -> None:
    participant = Participant(latency_ms=50)
    coordinator = _setup(tmp_path, participant)
    body = {"input": {"fail": "none", "order": "o-1"}}
    headers = {"Idempotency-Key": "order-o-1"}
    try:
        coordinator.start(extra_env={"SAGA_FAULT_POINT": "after_create"})
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"{coordinator.url}/v1/sagas/crash-test/executions", json=body, headers=headers, timeout=10)
        assert coordinator.exited(timeout=10) == CRASHED
        coordinator.start()
        again = httpx.post(f"{coordinator.url}/v1/sagas/crash-test/executions", json=body, headers=headers, timeout=10)
        assert again.status_code == 200  # it was stored before the crash: the retry finds it
        [done] = all_terminal(coordinator, [again.json()["id"]])
        assert done["status"] == "completed"
        listed = httpx.get(f"{coordinator.url}/v1/executions", timeout=10).json()["items"]
        assert len(listed) == 1
    finally:
        coordinator.stop()
        participant.stop()


@pytest.mark.slow  # 15 s: CI runs it in its second step (`-m "slow or soak"`)
def test_a_poison_execution_is_quarantined_and_the_others_finish(tmp_path: Path) -> None:
    participant = Participant(latency_ms=50)
    coordinator = _setup(tmp_path, participant)
    (tmp_path / "sagas" / "poison.yaml").write_text(
        definition(participant.url).replace("name: crash-test", "name: poison")
    )
    poison_env = {"SAGA_FAULT_POINT": "load", "SAGA_FAULT_TARGET": "poison", "SAGA_MAX_RECOVERY_ATTEMPTS": "2"}
    try:
        coordinator.start(extra_env=poison_env)
        ids = start_many(coordinator.url, 5, fail_every=0)
        r = httpx.post(
            f"{coordinator.url}/v1/sagas/poison/executions", json={"input": {"fail": "none", "order": "p"}}, timeout=10
        )
        poison_id = r.json()["id"]
        crashes = 0
        for _ in range(6):  # a supervisor: restart whenever it dies, faults still armed
            if coordinator.exited(timeout=5) is None:
                break
            crashes += 1
            coordinator.start(wait=False, extra_env=poison_env)
            wait_until(
                lambda: (
                    coordinator.process is not None and (coordinator.process.poll() is not None or _ready(coordinator))
                ),
                timeout=30,
                what="a start or a crash",
            )
        assert crashes == 3, f"expected the first run and 2 resumptions to crash, saw {crashes}"
        executions = all_terminal(coordinator, ids)
        assert {e["status"] for e in executions} == {"completed"}
        poison = httpx.get(f"{coordinator.url}/v1/executions/{poison_id}", timeout=10).json()
        assert poison["status"] == "running"
        with sqlite3.connect(tmp_path / "saga.db") as db:
            [(reason,)] = db.execute("SELECT quarantined FROM executions WHERE id = ?", (poison_id,)).fetchall()
        assert reason and "quarantined after 2 resumptions" in reason
    finally:
        coordinator.stop()
        participant.stop()


def _ready(coordinator: Coordinator) -> bool:
    try:
        return httpx.get(f"{coordinator.url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
