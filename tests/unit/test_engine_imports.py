"""The engine knows telemetry only through its ports: importing it loads no OpenTelemetry."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_engine_loads_no_opentelemetry() -> None:
    probe = "import coordinator.engine, sys; print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "[]"
