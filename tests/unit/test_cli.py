"""The `saga` command's offline subcommands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coordinator.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_validate_accepts_the_shipped_sagas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(ROOT / "sagas")]) == 0
    out = capsys.readouterr().out
    assert "order-checkout v1" in out and "payment-refund v1" in out


def test_validate_prints_every_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text(
        "name: Bad\nsteps:\n  - name: a\n    action: {method: POST, url: 'ftp://x', timeout: -1s}\n"
    )
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "bad.yaml" in out and "name" in out and "steps[0].action.url" in out and "steps[0].action.timeout" in out


def test_validate_refuses_a_missing_directory(tmp_path: Path) -> None:
    assert main(["validate", str(tmp_path / "nope")]) == 2


def test_openapi_prints_yaml_or_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi", "--format", "json"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "/v1/sagas/{name}/executions" in schema["paths"]


def test_serve_refuses_an_open_api_on_a_public_interface(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--insecure" in capsys.readouterr().err


def test_serve_refuses_invalid_definitions_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("name: ok\nsteps: []\n")
    assert main(["serve", "--sagas-dir", str(tmp_path), "--database-url", "memory://"]) == 2
    err = capsys.readouterr().err
    assert "invalid definitions" in err and "steps" in err


def test_migrate_creates_the_schema_and_reports_an_unreachable_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--database-url", f"sqlite:///{tmp_path / 'm.db'}"]) == 0
    assert main(["migrate", "--database-url", f"sqlite:///{tmp_path / 'm.db'}"]) == 0  # idempotent
    assert "up to date" in capsys.readouterr().out
    closed = "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1"
    assert main(["migrate", "--database-url", closed]) == 1
    assert "unreachable" in capsys.readouterr().err
    assert main(["migrate", "--database-url", "mysql://x"]) == 2


def test_validate_takes_a_file_and_warns_of_secrets_not_set_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAGA_SECRET_PSP_KEY", raising=False)
    shipped = ROOT / "sagas" / "order-checkout.yaml"
    keyed = tmp_path / "keyed.yaml"
    keyed.write_text(
        "name: keyed\nsteps:\n  - name: a\n    action:\n      method: POST\n      url: http://127.0.0.1:9/a\n"
        "      headers: {Authorization: 'Bearer {{ secrets.psp_key }}'}\n"
    )
    assert main(["validate", str(shipped), str(keyed)]) == 0  # a warning is not a failure
    assert capsys.readouterr().out.splitlines() == [
        f"ok  {shipped} (order-checkout v1, 5 steps)",
        f"ok  {keyed} (keyed v1, 1 step)",
        f"warn {keyed}: steps[0].action.headers.Authorization: secret 'psp_key' is not set:"
        " set SAGA_SECRET_PSP_KEY (not in this environment)",
    ]
    monkeypatch.setenv("SAGA_SECRET_PSP_KEY", "k")
    assert main(["validate", str(keyed)]) == 0
    assert capsys.readouterr().out == f"ok  {keyed} (keyed v1, 1 step)\n"
