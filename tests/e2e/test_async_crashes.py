"""SIGKILL the coordinator while asynchronous steps wait: callbacks and timeouts survive the restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e import async_workload as wl
from tests.e2e.checker import check_async_invariants
from tests.e2e.harness import Coordinator, Participant, wait_until
from tests.e2e.workload import all_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
TIMEOUT_S = 4.0
"""Long enough that on a quiet box the restart ends before the wait is due (the wake-up must be
re-armed from the database); on a loaded one it is overdue at restart and must fire at once."""


def _coordinator(tmp_path: Path, participant: Participant) -> Coordinator:
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "async-wait.yaml").write_text(wl.definition(participant.url, name="async-wait", timeout="30s"))
    (sagas / "async-retry.yaml").write_text(
        wl.definition(participant.url, name="async-retry", timeout=f"{TIMEOUT_S}s", attempts=2)
    )
    (sagas / "async-rollback.yaml").write_text(
        wl.definition(participant.url, name="async-rollback", timeout=f"{TIMEOUT_S}s", attempts=1)
    )
    database = f"sqlite:///{tmp_path / 'saga.db'}"
    return Coordinator(database_url=database, sagas_dir=sagas, log_path=tmp_path / "coordinator.log")


def test_callbacks_are_accepted_after_a_sigkill_while_the_steps_wait(tmp_path: Path) -> None:
    participant = Participant(latency_ms=20)
    coordinator = _coordinator(tmp_path, participant)
    try:
        coordinator.start()
        ids = wl.start(coordinator.url, "async-wait", 4)
        wl.until_waiting(coordinator, ids)
        coordinator.kill()
        coordinator.start()  # same port: the callback URLs the participant holds still point here

        ledger = participant.ledger()
        sent = []
        for i, eid in enumerate(ids):
            [call] = wl.charge_calls(ledger, eid)  # waiting is not in flight: the restart re-sent nothing
            if i == 3:  # the participant's answer is a "no": the saga rolls back
                sent.append(wl.callback(eid, call["callback_url"], "failed", error="card declined by the issuer"))
                continue
            sent.append(wl.callback(eid, call["callback_url"], body={"charge_id": f"ch-{i}"}))
            sent.append(wl.callback(eid, call["callback_url"], body={"charge_id": f"ch-{i}"}))  # answer lost
            sent.append(wl.callback(eid, call["callback_url"], "failed", error="changed my mind"))
        assert [s.status for s in sent] == [202, 200, 409] * 3 + [202], [s.status for s in sent]

        executions = all_terminal(coordinator, ids)
        ledger = participant.ledger()
        check_async_invariants(executions, ledger, sent, async_timeout_s=30)
        assert [ex["status"] for ex in executions] == ["completed"] * 3 + ["compensated"]
        for eid in ids:
            kinds = [e["type"] for e in wl.events(coordinator, eid)]
            assert "callback_received" in kinds, kinds
    finally:
        coordinator.stop()
        participant.stop()


def test_the_wait_still_times_out_on_time_after_a_sigkill_then_retries_or_compensates(tmp_path: Path) -> None:
    participant = Participant(latency_ms=20)
    coordinator = _coordinator(tmp_path, participant)
    try:
        coordinator.start()
        [retried] = wl.start(coordinator.url, "async-retry", 1)
        [rolled_back] = wl.start(coordinator.url, "async-rollback", 1)
        wl.until_waiting(coordinator, [retried, rolled_back])
        coordinator.kill()
        killed_at = time.time()
        coordinator.start()
        ready_at = time.time()
        print(f"\nrestart took {ready_at - killed_at:.2f} s (async timeout {TIMEOUT_S} s)")

        # The retry policy: attempt 2 is called with a new callback URL once attempt 1's wait ended.
        wait_until(
            lambda: len(wl.charge_calls(participant.ledger(), retried)) == 2,
            timeout=30,
            what="the second attempt of the timed-out charge",
        )
        first, second = wl.charge_calls(participant.ledger(), retried)
        due = first["start"] + TIMEOUT_S
        late = second["start"] - max(due, ready_at)
        case = "due after the restart" if ready_at < due else "overdue at the restart"
        print(f"second attempt {second['start'] - first['start']:.2f} s after the first, {late:.2f} s late ({case})")
        assert second["start"] >= due - 0.05, "the wait ended before its timeout"
        assert late <= 2.0, "the timeout fired late: its wake-up was not re-armed from the database"

        sent = [
            wl.callback(retried, first["callback_url"], body={"charge_id": "ch-old"}),  # superseded
            wl.callback(retried, second["callback_url"], body={"charge_id": "ch-new"}),
        ]
        assert [s.status for s in sent] == [409, 202], [s.status for s in sent]
        executions = all_terminal(coordinator, [retried, rolled_back])
        check_async_invariants(executions, participant.ledger(), sent, async_timeout_s=TIMEOUT_S)
        # The policy without retries: the unknown outcome is compensated (refund) as if it took effect.
        assert [ex["status"] for ex in executions] == ["completed", "compensated"]
        [only] = wl.charge_calls(participant.ledger(), rolled_back)
        [refund] = [
            r for r in participant.ledger()["requests"] if r["execution"] == rolled_back and r["op"] == "undo-charge"
        ]
        assert refund["start"] >= only["start"] + TIMEOUT_S - 0.05, "compensated before the wait ended"
        assert refund["start"] - max(only["start"] + TIMEOUT_S, ready_at) <= 2.0, "the timeout fired late"
        refused = wl.callback(rolled_back, only["callback_url"], body={"charge_id": "too-late"})
        assert refused.status in (404, 409), refused
    finally:
        coordinator.stop()
        participant.stop()
