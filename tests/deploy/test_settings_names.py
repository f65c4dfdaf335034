"""The names in deploy/ are settings the code reads, and docs/deploy.md documents every one of them."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import itertools
import re
import shlex

import pytest

from coordinator.cli import build_parser
from coordinator.durations import parse_duration_ms
from coordinator.settings import Settings
from tests.deploy.support import (
    DEPLOY,
    DOCS,
    SETTINGS_SOURCE,
    deploy_text_files,
    names_used,
    otel_settings,
    saga_settings,
)


def test_deploy_files_only_use_settings_the_code_reads() -> None:
    known_saga, known_otel = saga_settings(), otel_settings()
    for path in deploy_text_files():
        for name in names_used(path.read_text()):
            where = path.relative_to(DEPLOY)
            assert not name.startswith("SAGA_FAULT_"), f"{where}: {name} is for tests only"
            if name.startswith("SAGA_"):
                assert name in known_saga or name.startswith("SAGA_SECRET_"), f"{where}: {name} is not a setting"
            else:
                assert name in known_otel, f"{where}: {name} is not an OTEL_* variable we honour"


def _documented() -> dict[str, list[str]]:
    """Rows of the docs' tables whose first cell names a setting: name -> the row's cells."""
    rows: dict[str, list[str]] = {}
    for line in DOCS.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        for name in re.findall(r"`((?:SAGA|OTEL)_[A-Z0-9_<>]+)`", cells[0]):
            rows[name] = cells
    return rows


def test_every_setting_is_in_the_configuration_table() -> None:
    documented = _documented()
    text = DOCS.read_text()
    for name in sorted(saga_settings() | otel_settings()):
        if not name.startswith("OTEL_EXPORTER_OTLP_TRACES_"):
            assert name in documented, f"docs/deploy.md: no row for {name}"
        else:  # the traces-only twins are named once, together
            assert name.replace("_OTLP_TRACES_", "_OTLP_") in documented and "`OTEL_EXPORTER_OTLP_TRACES_*`" in text
    assert "SAGA_SECRET_<NAME>" in documented
    for name in documented:
        assert name in saga_settings() | otel_settings() | {"SAGA_SECRET_<NAME>"}, f"{name} is not read by the code"


def _field_of_each_variable() -> dict[str, str]:
    """`SAGA_X` -> the `Settings` field whose docstring starts by naming it."""
    tree = ast.parse(SETTINGS_SOURCE.read_text())
    (settings_class,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings"]
    mapping: dict[str, str] = {}
    body = settings_class.body
    for node, following in itertools.pairwise(body):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
            docstring = str(following.value.value)
            for name in re.findall(r"`(SAGA_[A-Z0-9_]+)`", docstring.split(":")[0]):
                mapping[name] = node.target.id
    return mapping


def test_the_documented_defaults_are_the_codes() -> None:
    documented = _documented()
    fields = _field_of_each_variable()
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    for name in sorted(saga_settings()):
        cells = documented[name]
        default_cell = cells[2]  # setting | flag | default | meaning
        default = defaults[fields[name]]
        if isinstance(default, bool):  # a switch, documented as `on` / `off`
            assert default_cell.strip("`") == ("on" if default else "off"), f"{name}: {default}, docs {default_cell}"
        elif default in (None, (), ""):
            assert default_cell == "—", f"{name}: the default is unset, the docs say {default_cell}"
        elif fields[name].endswith("_ms"):  # a duration setting, documented as people write it (`15m`)
            written = parse_duration_ms(default_cell.strip("`"))
            assert written == default, f"{name}: default {default} ms, docs {default_cell}"
        elif isinstance(default, int | float):
            assert float(default_cell.strip("`")) == float(default), f"{name}: default {default}, docs {default_cell}"
        else:
            assert default_cell.strip("`") == str(default), f"{name}: default {default!r}, docs {default_cell}"


def test_the_documented_flags_are_the_clis() -> None:
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    # Hidden flags (help=SUPPRESS, such as the supervisor's --worker-fds for its workers) are not for people.
    shown = [action for action in serve._actions if action.help != argparse.SUPPRESS]
    flags = {option for action in shown for option in action.option_strings} - {"-h", "--help"}
    documented = {cell.strip("`") for cells in _table_rows() for cell in cells[1:2] if cell.startswith("`--")}
    assert documented == flags


def _table_rows() -> list[list[str]]:
    rows = []
    for line in DOCS.read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_the_saga_commands_in_the_docs_parse() -> None:
    """Every `saga ...` command docs/deploy.md shows, in a code block or inline, is a real command."""
    parser = build_parser()
    text = DOCS.read_text()
    commands = list(re.findall(r"`saga ([a-z][^`]*)`", text))
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if re.match(r"\s*(\S*/)?saga\s", line):
                commands.append(line.split("#", 1)[0].split(None, 1)[1])
    commands.append(re.search(r"`docker run --entrypoint saga IMAGE ([^`]*)`", text).group(1))  # type: ignore[union-attr]
    assert any(c.startswith("migrate") for c in commands)
    for command in commands:
        try:
            parser.parse_args(shlex.split(command))
        except SystemExit:
            pytest.fail(f"docs/deploy.md: `saga {command}` does not parse")
