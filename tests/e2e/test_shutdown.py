"""SIGTERM: claim nothing new, let the calls in flight finish, hand the rest back, exit in time."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.checker import check_invariants
from tests.e2e.harness import Coordinator, Participant, wait_until
from tests.e2e.workload import all_terminal, definition, start_many

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_sigterm_lets_calls_in_flight_finish_and_hands_the_rest_back(tmp_path: Path) -> None:
    participant = Participant(latency_ms=1500)
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "crash-test.yaml").write_text(definition(participant.url))
    coordinator = Coordinator(
        database_url=f"sqlite:///{tmp_path / 'saga.db'}",
        sagas_dir=sagas,
        log_path=tmp_path / "coordinator.log",
        env={"SAGA_SHUTDOWN_GRACE_SECONDS": "10"},
    )
    try:
        coordinator.start()
        ids = start_many(coordinator.url, 6, fail_every=0)
        wait_until(lambda: _in_flight(participant) == 6, timeout=10, what="six calls in flight")
        term_at = time.time()
        coordinator.signal(signal.SIGTERM)
        code = coordinator.exited(timeout=30)
        took = time.time() - term_at
        assert code == 0, coordinator.log_path.read_text()[-2000:]
        assert "shutdown complete" in coordinator.log_path.read_text()
        print(f"\nexit after SIGTERM: {took:.2f} s with 6 calls of 1.5 s in flight")
        ledger = participant.ledger()
        reserves = [r for r in ledger["requests"] if r["op"] == "reserve"]
        assert len(reserves) == 6 and all(r["end"] <= term_at + took for r in reserves)  # they finished
        assert not [r for r in ledger["requests"] if r["op"] == "charge"], "no follow-up call started"
        coordinator.start()  # the next owner takes over at once (leases were released)
        executions = all_terminal(coordinator, ids)
        check_invariants(executions, participant.ledger())
        for eid in ids:
            events = httpx.get(f"{coordinator.url}/v1/executions/{eid}/events", timeout=10).json()["items"]
            sent_again = [e for e in events if e["type"] == "attempt_resent"]
            # reserve's outcome was committed before exit: only the never-sent charge is (re)sent
            assert [e["step"] for e in sent_again] == ["charge"], events
    finally:
        coordinator.stop()
        participant.stop()


def _in_flight(participant: Participant) -> int:
    """Requests the participant is handling right now."""
    data = httpx.get(f"{participant.url}/_ledger", timeout=5).json()
    return int(data.get("active", 0))
