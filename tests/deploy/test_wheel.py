"""The wheel the image installs: built, installed in a clean virtualenv, and `saga serve` run from it.

What `docker build` would do without Docker: `pip wheel . --no-deps` as in deploy/Dockerfile, a
fresh venv with the wheel and its dependencies from the package index, then the installed console
script serving on a SQLite file from outside the repository (so nothing is imported from the
source tree) with the shipped sagas/ registered, ready, healthy, and stopped by SIGTERM as a container runtime stops it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.deploy.support import ROOT

pytestmark = pytest.mark.e2e

_INSTALL_TIMEOUT_S = 600
_STOP_TIMEOUT_S = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result  # type: ignore[no-any-return]


@pytest.mark.timeout(900)
@pytest.mark.slow
def test_the_wheel_installs_in_a_clean_venv_and_serves(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w", str(wheels)], cwd=ROOT)
    (wheel,) = wheels.glob("saga_coordinator-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = ROOT / "coordinator" / "store" / "migrations"
    for needed in [*migrations.glob("versions/*.py"), migrations / "env.py", ROOT / "coordinator" / "py.typed"]:
        assert needed.relative_to(ROOT).as_posix() in names, f"the wheel lacks {needed.relative_to(ROOT)}"
    assert "saga_examples/__main__.py" in names, "the compose stack runs `python -m saga_examples` from the image"
    console = ROOT / "coordinator" / "console"
    for needed in [*console.glob("templates/*.j2"), *console.glob("static/*")]:
        assert needed.relative_to(ROOT).as_posix() in names, f"the wheel lacks {needed.relative_to(ROOT)}"

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)])
    saga = venv / "bin" / "saga"
    assert saga.exists()

    port = _free_port()
    workdir = tmp_path / "run"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SAGA_", "OTEL_", "PYTHON"))}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(saga),
                "serve",
                "--port",
                str(port),
                "--database-url",
                f"sqlite:///{tmp_path / 'x.db'}",
                "--sagas-dir",
                str(ROOT / "sagas"),
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            ready = None
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    ready = httpx.get(f"{base}/readyz", timeout=2)
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            assert ready is not None and ready.status_code == 200, log_path.read_text()[-3000:]
            assert httpx.get(f"{base}/healthz", timeout=2).json()["status"] == "ok"
            sagas = httpx.get(f"{base}/v1/sagas", timeout=2).json()
            assert {"order-checkout", "payment-refund"} <= {s["name"] for s in sagas["items"]}, sagas
            page = httpx.get(f"{base}/ui/sagas", timeout=5)  # the console, from the installed package
            assert page.status_code == 200 and "order-checkout" in page.text, page.text[-2000:]
            assert httpx.get(f"{base}/ui/static/htmx.min.js", timeout=2).status_code == 200

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=_STOP_TIMEOUT_S)
            elapsed = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 0, f"exit code {code} after SIGTERM:\n{log_path.read_text()[-3000:]}"
    assert elapsed < _STOP_TIMEOUT_S
    assert not list(workdir.iterdir()), "saga serve wrote into its working directory"
