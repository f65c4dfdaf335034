"""The shipped collector and Jaeger setup parse and point at each other (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "observability"


def test_collector_receives_otlp_and_exports_to_jaeger() -> None:
    config = yaml.safe_load((DEPLOY / "otel-collector.yaml").read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    jaeger_exporter = config["exporters"]["otlp/jaeger"]
    assert jaeger_exporter["endpoint"].startswith("jaeger:") and "otlp/jaeger" in pipeline["exporters"]
    for processor in pipeline["processors"]:
        assert processor in config["processors"]


def test_compose_runs_the_collector_with_that_config_and_jaeger() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    collector = compose["services"]["otel-collector"]
    assert any(v.startswith("./otel-collector.yaml:") for v in collector["volumes"])
    assert "127.0.0.1:4318:4318" in collector["ports"]
    assert compose["services"]["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
