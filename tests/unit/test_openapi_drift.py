"""openapi.yaml is the app's own schema: regenerate it with `saga openapi > openapi.yaml`."""

from __future__ import annotations

from pathlib import Path

import yaml

from coordinator.cli.serve import openapi_document

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_openapi_matches_the_app() -> None:
    checked_in = (ROOT / "openapi.yaml").read_text()
    assert openapi_document() == checked_in, "openapi.yaml is stale: run 'saga openapi > openapi.yaml'"


def test_every_spec_endpoint_is_documented() -> None:
    paths = yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"]
    for path, method in [
        ("/v1/sagas", "post"),
        ("/v1/sagas", "get"),
        ("/v1/sagas/{name}", "get"),
        ("/v1/sagas/{name}/versions/{version}", "get"),
        ("/v1/sagas/{name}/executions", "post"),
        ("/v1/executions", "get"),
        ("/v1/executions/{execution_id}", "get"),
        ("/v1/executions/{execution_id}/events", "get"),
        ("/v1/executions/{execution_id}/cancel", "post"),
        ("/v1/executions/{execution_id}/retry", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path} missing from openapi.yaml"
