"""SQLite on a disk that fills up while sagas run: 503s that say why, nothing lost, and on once space is back.

The database lives on a size-limited tmpfs mounted for the test (root only: CI runs as root; a
run without root skips, except in CI, where it fails). A filler file takes the remaining space.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.checker import check_invariants
from tests.e2e.harness import Coordinator, Participant
from tests.e2e.workload import all_terminal, definition

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
SIZE = "8m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of `SIZE` mounted at a fresh directory; unmounted afterwards, whatever happens."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the full-disk test mounts a tmpfs: it needs root in CI")
        pytest.skip("needs root to mount a tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the test needs it, it is not skipped): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def _fill(path: Path) -> int:
    """Write zeros to `path` until the filesystem is full; bytes written."""
    written = 0
    block = b"\0" * 65536
    with path.open("wb", buffering=0) as f:
        while True:
            try:
                written += f.write(block)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                if len(block) == 1:
                    return written
                block = block[: len(block) // 16 or 1]


def _start(client: httpx.Client, i: int) -> httpx.Response:
    failing = "ship" if i % 2 else "none"
    return client.post("/v1/sagas/crash-test/executions", json={"input": {"fail": failing, "order": f"o{i}"}})


def test_a_full_disk_answers_503_loses_nothing_and_recovers_without_a_restart(tmp_path: Path, small_disk: Path) -> None:
    participant = Participant(latency_ms=300)
    sagas = tmp_path / "sagas"
    sagas.mkdir()
    (sagas / "crash-test.yaml").write_text(definition(participant.url))
    database = small_disk / "saga.db"
    coordinator = Coordinator(
        database_url=f"sqlite:///{database}", sagas_dir=sagas, log_path=tmp_path / "coordinator.log"
    )
    filler = small_disk / "filler"
    try:
        coordinator.start()
        acknowledged: list[str] = []
        refused: list[httpx.Response] = []
        with httpx.Client(base_url=coordinator.url, timeout=15) as client:
            for i in range(10):
                r = _start(client, i)
                assert r.status_code == 201, r.text
                acknowledged.append(r.json()["id"])
            _fill(filler)  # while those run
            # Writes that still fit in pages SQLite already holds may succeed: keep starting until
            # the disk says no, counting every start that was acknowledged.
            for i in range(10, 400):
                r = _start(client, i)
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])
                    continue
                refused.append(r)
                if len(refused) >= 3:
                    break
            assert refused, "the disk never filled up"
            for r in refused:
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["code"] == "storage_full", r.text
                assert "retry-after" in r.headers
            ready = client.get("/readyz")
            assert ready.status_code == 503 and "full" in ready.json()["detail"], ready.text
            # Reads still answer while the disk is full.
            assert client.get(f"/v1/executions/{acknowledged[0]}").status_code == 200

            time.sleep(1.5)  # not a wait for a condition: the sagas in flight meet the full disk
            filler.unlink()
            freed_at = time.monotonic()
            executions = all_terminal(coordinator, acknowledged)  # the same process: no restart
            finished_in = time.monotonic() - freed_at
            assert client.get("/readyz").status_code == 200
        assert coordinator.process is not None and coordinator.process.poll() is None
        check_invariants(executions, participant.ledger())
        print(
            f"\nfull disk ({SIZE} tmpfs): {len(acknowledged)} starts acknowledged, {len(refused)} refused with 503; "
            f"all finished {finished_in:.2f} s after space was freed"
        )
    finally:
        coordinator.stop()
        participant.stop()
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
