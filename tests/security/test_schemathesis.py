"""Schemathesis against the checked-in `openapi.yaml`: no 5xx, and every answer matches the schema.

The coordinator runs as `saga serve` on loopback with API tokens and an allowlist; schemathesis
(its CLI, in a subprocess, so a run looks exactly like `st run` in a shell) drives every phase —
examples, coverage, fuzzing and stateful — with a fixed seed and a bounded number of examples.

Checks: all of them except two that cannot hold for this API by design:
* `positive_data_acceptance` — a definition or a cursor can match the schema and still be refused
  (cross-field rules, the target allowlist, opaque cursors): 422 is the right answer there.
* `object_level_authorization` — there are no tenants; every token sees every execution.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import ROOT, Coordinator

SEED = "42"
TOKEN = "schemathesis-token-0123456789"
EXCLUDED = "positive_data_acceptance,object_level_authorization"


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coordinator]:
    home = tmp_path_factory.mktemp("schemathesis")
    sagas = home / "sagas"
    sagas.mkdir()
    definition = {
        "name": "probe",
        "steps": [
            {
                "name": "call",
                "action": {"method": "POST", "url": "http://127.0.0.1:9/x"},
                "compensation": {"method": "POST", "url": "http://127.0.0.1:9/undo"},
            }
        ],
    }
    (sagas / "probe.yaml").write_text(yaml.safe_dump(definition))
    coordinator = Coordinator(
        database_url=f"sqlite:///{home / 'saga.db'}",
        sagas_dir=sagas,
        log_path=home / "coordinator.log",
        env={"SAGA_API_TOKENS": TOKEN, "SAGA_ALLOWED_TARGETS": "127.0.0.1:9", "SAGA_LOG_LEVEL": "WARNING"},
    )
    coordinator.start()
    try:
        yield coordinator
    finally:
        coordinator.stop()
        log = (home / "coordinator.log").read_text()
        assert "unhandled error" not in log, log[-4000:]


def _run(coordinator: Coordinator, report: Path, *args: str) -> str:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(ROOT / "openapi.yaml"),
        "--url",
        coordinator.url,
        "--seed",
        SEED,
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--report",
        "junit",
        "--report-dir",
        str(report),
        *args,
    ]
    # cwd: schemathesis keeps a cache folder in its working directory; keep it out of the tree.
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=report, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def test_authenticated_run_finds_nothing(coordinator: Coordinator, tmp_path: Path) -> None:
    output = _run(
        coordinator,
        tmp_path,
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED,
        "--max-examples",
        "30",
        "-H",
        f"Authorization: Bearer {TOKEN}",
    )
    assert "passed" in output and "Seed: 42" in output


def test_unauthenticated_run_gets_only_documented_401s(coordinator: Coordinator, tmp_path: Path) -> None:
    _run(
        coordinator,
        tmp_path,
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,response_headers_conformance",
        "--max-examples",
        "10",
    )
