"""Two coordinators on one PostgreSQL: a callback is accepted by the replica that did not make the
call, and by the survivor while the caller is dead; the takeover carries the saga on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import async_workload as wl
from tests.e2e.checker import check_async_invariants
from tests.e2e.harness import Coordinator, Participant
from tests.e2e.workload import all_terminal
from tests.postgres import throwaway_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(180)]
LEASE_S, SWEEP_S = 3.0, 0.5


@pytest.fixture
def database() -> Iterator[str]:
    with throwaway_database("saga_async_replicas") as url:
        yield url


@pytest.fixture
def participant() -> Iterator[Participant]:
    p = Participant(latency_ms=20)
    yield p
    p.stop()


def _pair(tmp_path: Path, database: str, participant: Participant) -> tuple[Coordinator, Coordinator]:
    sagas = tmp_path / "sagas"
    sagas.mkdir(exist_ok=True)
    (sagas / "async-wait.yaml").write_text(wl.definition(participant.url, name="async-wait", timeout="60s"))
    env = {"SAGA_LEASE_SECONDS": str(LEASE_S), "SAGA_SWEEP_SECONDS": str(SWEEP_S)}
    a = Coordinator(database_url=database, sagas_dir=sagas, log_path=tmp_path / "a.log", env=env)
    b = Coordinator(database_url=database, sagas_dir=sagas, log_path=tmp_path / "b.log", env=env)
    a.start()
    b.start()
    return a, b


def test_a_callback_sent_to_the_other_replica_is_accepted(
    tmp_path: Path, database: str, participant: Participant
) -> None:
    a, b = _pair(tmp_path, database, participant)
    try:
        ids = wl.start(a.url, "async-wait", 3)
        wl.until_waiting(a, ids)
        ledger = participant.ledger()
        sent = []
        for i, eid in enumerate(ids):
            [call] = wl.charge_calls(ledger, eid)
            assert call["callback_url"].startswith(a.url), "A made the call: its URL names A"
            sent.append(wl.callback(eid, call["callback_url"], body={"charge_id": f"ch-{i}"}, via=b.url))
            sent.append(wl.callback(eid, call["callback_url"], body={"charge_id": f"ch-{i}"}))  # and A agrees
        assert [s.status for s in sent] == [202, 200] * 3, [s.status for s in sent]
        executions = all_terminal(a, ids)
        check_async_invariants(executions, participant.ledger(), sent, async_timeout_s=60)
        assert {ex["status"] for ex in executions} == {"completed"}
    finally:
        a.stop()
        b.stop()


def test_a_callback_that_arrives_while_the_caller_is_dead_is_accepted_and_the_takeover_carries_on(
    tmp_path: Path, database: str, participant: Participant
) -> None:
    a, b = _pair(tmp_path, database, participant)
    try:
        ids = wl.start(a.url, "async-wait", 3)
        wl.until_waiting(a, ids)
        ledger = participant.ledger()
        a.kill()
        killed_at = time.time()
        sent = []
        for i, eid in enumerate(ids):
            [call] = wl.charge_calls(ledger, eid)
            outcome = "failed" if i == 2 else "succeeded"
            body = None if outcome == "failed" else {"charge_id": f"ch-{i}"}
            error = "card declined by the issuer" if outcome == "failed" else None
            sent.append(wl.callback(eid, call["callback_url"], outcome, body=body, error=error, via=b.url))
        accepted_in = time.time() - killed_at
        assert [s.status for s in sent] == [202] * 3, [s.status for s in sent]
        assert accepted_in < LEASE_S, "accepted at once, before A's lease ran out (no takeover needed to accept)"

        executions = all_terminal(b, ids)
        ledger = participant.ledger()
        check_async_invariants(executions, ledger, sent, async_timeout_s=60)
        assert [ex["status"] for ex in executions] == ["completed", "completed", "compensated"]
        mine = set(ids)
        after = [r for r in ledger["requests"] if r["execution"] in mine and r["start"] > killed_at]
        owners_before = {r["coordinator"] for r in ledger["requests"] if r["start"] < killed_at}
        assert after and {r["coordinator"] for r in after}.isdisjoint(owners_before), "B carried them on"
        took = min(r["start"] for r in after) - killed_at
        print(f"\nfirst call after the takeover: {took:.2f} s after SIGKILL (lease {LEASE_S} s)")
        assert took <= LEASE_S + 2 * SWEEP_S + 3.0
        assert not any(r["op"] == "charge" for r in after), "the answered charge was not called again"
    finally:
        a.stop()
        b.stop()
