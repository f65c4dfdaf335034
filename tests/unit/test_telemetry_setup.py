"""Exporters chosen from the standard OTEL_* variables."""

from __future__ import annotations

import pytest

from coordinator.telemetry import Telemetry, TelemetryError


def test_otel_exporter_choice_is_validated() -> None:
    with pytest.raises(TelemetryError, match="zipkin"):
        Telemetry.from_env({"OTEL_TRACES_EXPORTER": "zipkin"}, service_version="x")
    assert not Telemetry.from_env({}, service_version="x").tracing_enabled
    grpc = Telemetry.from_env(
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, service_version="x"
    )
    assert grpc.tracing_enabled
    grpc.shutdown()
