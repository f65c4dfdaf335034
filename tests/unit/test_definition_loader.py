"""Definition files: ${VAR} expansion, discovery, offline validation of a folder and its report."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.definition import (
    compile_definition,
    expand_variables,
    find_definition_files,
    format_report,
    load_definition_file,
    validate_directory,
)
from coordinator.errors import DefinitionInvalid, Problem

REPO = Path(__file__).resolve().parents[2]

VALID = """\
name: {name}
{version}steps:
  - name: reserve
    action: {{method: POST, url: "${{INVENTORY_URL:-http://127.0.0.1:8101}}/reservations"}}
  - name: charge
    action: {{method: POST, url: "http://payment:8002/charges"}}
"""


def write(directory: Path, filename: str, name: str = "order-checkout", version: int | None = None) -> Path:
    path = directory / filename
    path.write_text(VALID.format(name=name, version=f"version: {version}\n" if version else ""))
    return path


def test_expand_uses_env_then_default() -> None:
    text = "a=${A} b=${B:-dflt} c=${C:-} d=${D:-x} e=$${A} f=$A"

    assert expand_variables(text, {"A": "1", "D": ""}) == "a=1 b=dflt c= d=x e=${A} f=$A"


def test_expand_reports_every_missing_variable_with_its_line() -> None:
    with pytest.raises(DefinitionInvalid) as caught:
        expand_variables("x: ${ONE}\ny: ${TWO}\nz: ${THREE:-ok}", {})

    assert caught.value.problems == [
        Problem("$", "environment variable ONE (line 1) is not set and has no default"),
        Problem("$", "environment variable TWO (line 2) is not set and has no default"),
    ]


def test_set_but_empty_variable_without_default_expands_to_nothing() -> None:
    assert expand_variables("a${E}b", {"E": ""}) == "ab"


def test_load_expands_defaults(tmp_path: Path) -> None:
    document = load_definition_file(write(tmp_path, "a.yaml"), env={})

    assert document["steps"][0]["action"]["url"] == "http://127.0.0.1:8101/reservations"


def test_load_takes_hosts_from_env(tmp_path: Path) -> None:
    document = load_definition_file(write(tmp_path, "a.yaml"), env={"INVENTORY_URL": "https://inv.internal:9443"})

    spec = compile_definition(document, version=1)
    assert spec.steps[0].action.origin == "https://inv.internal:9443"


def test_load_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVENTORY_URL", "http://from-env:1")

    document = load_definition_file(write(tmp_path, "a.yml"))

    assert document["steps"][0]["action"]["url"] == "http://from-env:1/reservations"


def test_load_json(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"name": "x", "url": "${U:-http://h}"}')

    assert load_definition_file(path, env={}) == {"name": "x", "url": "http://h"}


def test_load_missing_variable(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("name: x\nurl: ${NOT_SET_ANYWHERE}/r\n")

    with pytest.raises(DefinitionInvalid, match="NOT_SET_ANYWHERE"):
        load_definition_file(path, env={})


def test_find_definition_files(tmp_path: Path) -> None:
    for name in ["b.yaml", "a.json", "c.yml", "d.txt", ".hidden.yaml", "saga-definition.schema.json", "E.YAML"]:
        (tmp_path / name).write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.yaml").write_text("{}")
    (tmp_path / "dir.yaml").mkdir()

    assert [p.name for p in find_definition_files(tmp_path)] == ["E.YAML", "a.json", "b.yaml", "c.yml"]


def test_find_in_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        find_definition_files(tmp_path / "nope")


def test_validate_directory_and_report(tmp_path: Path) -> None:
    write(tmp_path, "a-checkout.yaml", version=2)
    write(tmp_path, "b-refund.yaml", name="payment-refund")
    (tmp_path / "c-broken.yaml").write_text(
        "name: Broken\nsteps:\n  - name: x\n    action: {method: FETCH, url: http://h/}\n"
    )
    (tmp_path / "d-unparsable.json").write_text("{")
    write(tmp_path, "e-duplicate.yaml", version=2)

    results = validate_directory(tmp_path, env={})

    assert [(path.name, problems) for path, problems in results] == [
        ("a-checkout.yaml", []),
        ("b-refund.yaml", []),
        (
            "c-broken.yaml",
            [
                Problem("name", results[2][1][0].message),
                Problem(
                    "steps[0].action.method",
                    "method 'FETCH' is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
                ),
            ],
        ),
        (
            "d-unparsable.json",
            [Problem("$", "invalid JSON at line 1, column 2: Expecting property name enclosed in double quotes")],
        ),
        (
            "e-duplicate.yaml",
            [Problem("name", f"saga 'order-checkout' version 2 is also defined in {tmp_path / 'a-checkout.yaml'}")],
        ),
    ]

    report = format_report(results)

    assert report.splitlines() == [
        f"ok  {tmp_path / 'a-checkout.yaml'} (order-checkout v2, 2 steps)",
        f"ok  {tmp_path / 'b-refund.yaml'} (payment-refund v1, 2 steps)",
        f"FAIL {tmp_path / 'c-broken.yaml'} (2 problems)",
        f"    name: {results[2][1][0].message}",
        "    steps[0].action.method: method 'FETCH' is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
        f"FAIL {tmp_path / 'd-unparsable.json'} (1 problem)",
        "    $: invalid JSON at line 1, column 2: Expecting property name enclosed in double quotes",
        f"FAIL {tmp_path / 'e-duplicate.yaml'} (1 problem)",
        f"    name: saga 'order-checkout' version 2 is also defined in {tmp_path / 'a-checkout.yaml'}",
    ]


def test_same_name_with_different_versions_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", version=1)
    write(tmp_path, "b.yaml", version=2)

    assert [problems for _, problems in validate_directory(tmp_path, env={})] == [[], []]


def test_report_of_plain_tuples_and_of_nothing() -> None:
    assert format_report([(Path("x.yaml"), [])]) == "ok  x.yaml"
    assert format_report([]) == "no definition files found"


def test_shipped_sagas_are_valid() -> None:
    results = validate_directory(REPO / "sagas", env={})

    assert results, "no definitions in sagas/"
    assert all(not problems for _, problems in results), format_report(results)
