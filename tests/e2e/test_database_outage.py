"""PostgreSQL stops mid-run: readiness and writes answer 503, and every saga finishes once it is back.

Uses a throw-away PostgreSQL cluster of its own (pg_createcluster), so stopping it hurts no other test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.checker import check_invariants
from tests.e2e.harness import Coordinator, Participant, free_port
from tests.e2e.workload import all_terminal, definition, start_many

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(240)]


@pytest.fixture
def cluster() -> Iterator[tuple[str, str, int]]:
    """(version, name, port) of a fresh cluster, started; dropped afterwards."""
    if shutil.which("pg_createcluster") is None or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the database outage test needs pg_createcluster and root in CI")
        pytest.skip("needs pg_createcluster and root")
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    name, port = f"sagaoutage{os.getpid()}", free_port()
    subprocess.run(
        ["pg_createcluster", version, name, "-p", str(port), "--start", "--", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    try:
        yield version, name, port
    finally:
        subprocess.run(["pg_dropcluster", version, name, "--stop"], check=False, capture_output=True)


def _ctl(cluster: tuple[str, str, int], *args: str) -> None:
    version, name, _ = cluster
    subprocess.run(["pg_ctlcluster", version, name, *args], check=True, capture_output=True)


def test_a_database_outage_is_ridden_out_without_a_restart(tmp_path: Path, cluster: tuple[str, str, int]) -> None:
    participant = Participant(latency_ms=200)
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "crash-test.yaml").write_text(definition(participant.url))
    coordinator = Coordinator(
        database_url=f"postgresql://postgres@127.0.0.1:{cluster[2]}/postgres",
        sagas_dir=sagas,
        log_path=tmp_path / "coordinator.log",
    )
    try:
        coordinator.start()
        ids = start_many(coordinator.url, 20)
        time.sleep(0.3)  # not a wait for a condition: lets calls get in flight, so the outage hits them
        _ctl(cluster, "stop", "-m", "immediate")
        ready = httpx.get(f"{coordinator.url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.headers["content-type"].startswith("application/problem+json")
        write = httpx.post(
            f"{coordinator.url}/v1/sagas/crash-test/executions",
            json={"input": {"fail": "none", "order": "x"}},
            timeout=15,
        )
        assert write.status_code == 503 and "retry-after" in write.headers, write.text
        time.sleep(2)  # the outage's length (the coordinator keeps retrying meanwhile), not a wait
        _ctl(cluster, "start")
        executions = all_terminal(coordinator, ids)  # the same process: no manual restart
        check_invariants(executions, participant.ledger())
        assert httpx.get(f"{coordinator.url}/readyz", timeout=10).status_code == 200
        assert coordinator.process is not None and coordinator.process.poll() is None
    finally:
        coordinator.stop()
        participant.stop()
