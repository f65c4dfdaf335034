"""The supervisor of `saga serve --workers N` (`coordinator.cli.workers`), with stand-in workers.

Real processes and a real socket; the workers are `pool_worker.py`, which answers each connection
with its pid, so these tests take a second rather than the many a coordinator takes to start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("pool_worker.py")
SUPERVISOR = (
    "import logging, sys\n"
    "from coordinator.cli.workers import WorkerPool, bind_shared_socket\n"
    "logging.basicConfig(level=logging.INFO)\n"
    "sock = bind_shared_socket('127.0.0.1', 0)\n"
    "print('PORT', sock.getsockname()[1], flush=True)\n"
    f"sys.exit(WorkerPool([sys.executable, {str(WORKER)!r}], count=2, sock=sock, grace_s=1).run())\n"
)


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "POOL_DIR": str(tmp_path)},
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("PORT"), line
    try:
        yield process, int(line.split()[1])
    finally:
        for pid in _children(process.pid):
            os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(predicate: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _ready(pids: set[int], where: Path) -> bool:
    return all((where / f"up-{pid}").exists() for pid in pids)


def _ask(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        return int(conn.recv(64))


def test_workers_share_the_port_a_dead_one_is_replaced_and_sigterm_reaches_each_once(
    supervisor: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    process, port = supervisor
    _wait(lambda: len(_children(process.pid)) == 2, "two workers")
    first = set(_children(process.pid))
    _wait(lambda: _ready(first, tmp_path), "both workers ready")
    answered = {_ask(port) for _ in range(40)}
    assert answered <= first and answered, "the workers answer on the supervisor's port"

    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    _wait(lambda: len(set(_children(process.pid)) - first) == 1, "a replacement worker")
    now = set(_children(process.pid))
    assert victim not in now and len(now) == 2
    _wait(lambda: _ready(now, tmp_path), "the replacement ready")
    assert _ask(port) in now, "the port still answered"

    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    terms = [line for line in out.splitlines() if line.startswith("TERM")]
    assert sorted(terms) == sorted(f"TERM {pid}" for pid in now), out  # each live worker, exactly once
    assert f"(pid {victim}) exited with signal SIGKILL" in err
    assert all(not _alive(pid) for pid in now)


def test_workers_stop_when_the_supervisor_is_killed(
    supervisor: tuple[subprocess.Popen[str], int], tmp_path: Path
) -> None:
    process, _ = supervisor
    _wait(lambda: len(_children(process.pid)) == 2, "two workers")
    workers = _children(process.pid)
    _wait(lambda: _ready(set(workers), tmp_path), "both workers ready")
    process.kill()
    process.wait(timeout=10)
    # Nobody signals them: they exit because they see the supervisor's end of the pipe close.
    _wait(lambda: not any(_alive(pid) for pid in workers), "orphaned workers to exit")
    assert process.stdout is not None
    out = process.stdout.read()
    assert sorted(out.split()) == sorted(["ORPHAN", "ORPHAN", *map(str, workers)]), out


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/saga.db", "memory://"])
def test_workers_are_refused_without_postgresql(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coordinator.cli import main

    monkeypatch.delenv("SAGA_WORKERS", raising=False)
    code = main(["serve", "--workers", "2", "--port", "0", "--database-url", url.format(tmp=tmp_path)])
    assert code == 2
    assert "--workers 2 needs PostgreSQL" in capsys.readouterr().err
    assert not (tmp_path / "saga.db").exists()


def test_saga_workers_is_read_from_the_environment() -> None:
    from coordinator.settings import Settings, SettingsError

    pg = "postgresql://postgres@127.0.0.1/x"
    assert Settings.from_env({"SAGA_WORKERS": "4", "SAGA_DATABASE_URL": pg}).workers == 4
    assert Settings.from_env({}).workers == 1
    with pytest.raises(SettingsError, match="SAGA_WORKERS must be at least 1"):
        Settings.from_env({"SAGA_WORKERS": "0", "SAGA_DATABASE_URL": pg})
    with pytest.raises(SettingsError, match="needs PostgreSQL"):
        Settings.from_env({"SAGA_WORKERS": "3"})
