"""`saga serve` with text logs, as an on-call reads them: where it listens, and one end per execution.

The report was "once in ten runs the text log printed `execution_completed` twice, apparently for
one saga", while the history held one per execution. With the ids back on text lines, 300 sagas
(some completing, some rolled back, all at once) show exactly one terminal line per execution.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import httpx
import pytest

from coordinator import __version__
from tests.e2e.harness import Coordinator, Participant

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SAGAS = 300
DEFINITION = """name: logs-test
steps:
  - name: reserve
    action: {{method: POST, url: "{url}/op/reserve", body: {{fail: "{{{{ input.fail }}}}"}}}}
    compensation: {{method: DELETE, url: "{url}/op/undo-reserve"}}
  - name: charge
    action: {{method: POST, url: "{url}/op/charge", body: {{fail: "{{{{ input.fail }}}}"}}}}
    compensation: {{method: DELETE, url: "{url}/op/undo-charge"}}
"""
ENDS = re.compile(r" (execution_completed|execution_compensated)\b.* execution_id=(\S+) trace_id=([0-9a-f]{32})")


def run_sagas(tmp_path: Path) -> tuple[str, Coordinator, dict[str, str]]:
    """Serve with text logs, run `SAGAS` sagas (every third rolled back); the log, and each id's end status."""
    participant = Participant(latency_ms=0)
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "logs-test.yaml").write_text(DEFINITION.format(url=participant.url))
    coordinator = Coordinator(
        database_url=f"sqlite:///{tmp_path / 'saga.db'}",
        sagas_dir=sagas,
        log_path=tmp_path / "coordinator.log",
        env={"SAGA_LOG_FORMAT": "text", "SAGA_LOG_LEVEL": "INFO"},
    )
    statuses: dict[str, str] = {}
    try:
        coordinator.start()
        with httpx.Client(base_url=coordinator.url, timeout=30) as client:
            ids = []
            for i in range(SAGAS):
                fail = "charge" if i % 3 == 0 else "none"
                r = client.post("/v1/sagas/logs-test/executions", json={"input": {"fail": fail}})
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            for eid in ids:
                body = client.get(f"/v1/executions/{eid}", params={"wait": "30s"}).json()
                statuses[eid] = body["status"]
    finally:
        coordinator.stop()
        participant.stop()
    return coordinator.log_path.read_text(), coordinator, statuses


def test_text_logs_say_where_serve_listens_and_end_each_execution_once(tmp_path: Path) -> None:
    log, coordinator, statuses = run_sagas(tmp_path)

    listening = [line for line in log.splitlines() if "listening on" in line]
    assert len(listening) == 1, listening
    assert listening[0].endswith(
        f" INFO coordinator listening on http://127.0.0.1:{coordinator.port} (database sqlite, version {__version__})"
    )

    assert Counter(statuses.values()) == {"completed": SAGAS - SAGAS // 3, "compensated": SAGAS // 3}
    ends = [m.groups() for m in map(ENDS.search, log.splitlines()) if m]
    per_execution = Counter(eid for _, eid, _ in ends)
    assert set(per_execution) == set(statuses)
    assert [eid for eid, n in per_execution.items() if n != 1] == []  # never two lines for one execution
    assert all(event == f"execution_{statuses[eid]}" for event, eid, _ in ends)
    assert len({trace for _, _, trace in ends}) == SAGAS  # one trace per execution, on the line too
