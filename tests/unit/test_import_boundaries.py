"""The seams of ARCHITECTURE.md, enforced: who may import what.

The rules are the tables below; the checks only read them. A module's *unit* is its package under
`coordinator/` (`store`, `engine`, ...), or its own name for a module at the top (`settings`,
`runtime`, ...), so a rule written for `cli` holds for `coordinator/cli.py` and for a
`coordinator/cli/` package alike. Every check also runs on synthetic violations, so that none of
them can pass by finding nothing to look at.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "coordinator"
ROOT = "coordinator"
"""The package itself (`from coordinator import __version__`): a version string, importable by all."""

LIBRARY_HOMES: dict[str, frozenset[str]] = {
    "sqlalchemy": frozenset({"store"}),
    "sqlmodel": frozenset({"store"}),
    "alembic": frozenset({"store"}),
    "psycopg": frozenset({"store"}),
    "litestar": frozenset({"api", "console"}),
    "apscheduler": frozenset({"timers"}),
    "aiohttp": frozenset({"executor"}),
    "opentelemetry": frozenset({"telemetry"}),
    "httpx": frozenset({"executor", "client"}),
}
"""Third-party libraries and the only units that may import them."""

STDLIB_ONLY: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "ports": frozenset({"ports", "core"}),
    "errors": frozenset({"errors"}),
    "settings": frozenset({"settings", "errors", "durations"}),
    "redaction": frozenset({"redaction"}),
    "durations": frozenset({"durations"}),
}
"""Units that import the standard library only, besides these units of ours."""

_LEAVES = frozenset({ROOT, "errors", "settings", "redaction", "durations"})
"""Import nothing above themselves (see STDLIB_ONLY): anyone may import them."""
_ADAPTER = _LEAVES | {"core", "ports"}
"""What `store`, `executor`, `timers` and `telemetry` may import: never the engine, never each other."""
_ADAPTERS = frozenset({"store", "executor", "timers", "telemetry"})
_API = _LEAVES | {"core", "ports", "definition", "engine", "runtime", "telemetry"}

MAY_IMPORT: dict[str, frozenset[str]] = {
    "__init__": frozenset(),
    "errors": frozenset(),
    "redaction": frozenset(),
    "durations": frozenset(),
    "settings": frozenset({"errors", "durations"}),
    "core": frozenset(),
    "ports": frozenset({"core"}),
    "definition": frozenset({"core", "errors", "durations"}),
    "engine": _LEAVES | {"core", "ports", "definition"},
    **dict.fromkeys(_ADAPTERS, _ADAPTER),
    "runtime": _LEAVES | {"core", "ports", "definition", "engine"} | _ADAPTERS,
    "api": _API | {"console"},  # `api.app` mounts the console at /ui (unless SAGA_UI=off)
    "console": _API | {"api"},
    "cli": _LEAVES
    | {"core", "ports", "definition", "engine", "runtime", "api", "console", "client", "store", "telemetry"},
    "client": frozenset({ROOT, "core"}),
}
"""Layers, `core` <- `definition` <- `engine` <- `runtime` <- `api` / `console` / `cli`: the other
units of ours each unit may import. The adapters implement `ports` and know only it, `core` and the
leaves; the composition root (`runtime`) wires them; `client` is the server's stranger but for
`core`'s enums."""


@dataclass(frozen=True, slots=True)
class Module:
    """One source file: its path under `coordinator/` and the absolute names it imports."""

    path: str
    imports: tuple[str, ...]

    @property
    def unit(self) -> str:
        """The package (or top-level module) this file belongs to."""
        parts = PurePosixPath(self.path).parts
        name = parts[0] if len(parts) > 1 else PurePosixPath(parts[0]).stem
        return name


def parse(path: str, source: str) -> Module:
    """The imports of `source`, as if it were `coordinator/<path>`; relative imports made absolute."""
    package = [ROOT, *PurePosixPath(path).parent.parts]  # for an __init__.py, the package it defines
    names: list[str] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from coordinator import errors` imports the unit `errors`, not the root package.
            names.extend([f"{base}.{alias.name}" for alias in node.names] if base == ROOT else [base])
    return Module(path, tuple(names))


def unit_of(name: str) -> str | None:
    """The unit of ours that an imported name belongs to; None for anything not ours."""
    parts = name.split(".")
    if parts[0] != ROOT:
        return None
    if len(parts) == 1 or parts[1].startswith("__"):
        return ROOT
    return parts[1]


def _uses(name: str, library: str) -> bool:
    """Whether `name` is `library` or a framework's integration of it (`litestar.plugins.opentelemetry`)."""
    parts = name.split(".")
    return parts[0] != ROOT and library in parts


def library_violations(library: str, modules: Iterable[Module]) -> list[str]:
    """Imports of `library` from outside its homes."""
    homes = LIBRARY_HOMES[library]
    return [
        f"{m.path} imports {name}: {library} belongs in {', '.join(sorted(homes))} only"
        for m in modules
        if m.unit not in homes
        for name in m.imports
        if _uses(name, library)
    ]


def stdlib_violations(unit: str, modules: Iterable[Module]) -> list[str]:
    """Imports by `unit` of anything but the standard library and its allowed units of ours."""
    ours = STDLIB_ONLY[unit]
    return [
        f"{m.path} imports {name}: {unit} uses the standard library only"
        + (f" (and {', '.join(sorted(ours - {unit}))})" if ours - {unit} else "")
        for m in modules
        if m.unit == unit
        for name in m.imports
        if not (name.split(".")[0] in sys.stdlib_module_names or unit_of(name) in ours)
    ]


def layer_violations(unit: str, modules: Iterable[Module]) -> list[str]:
    """Imports by `unit` of units of ours it may not import."""
    allowed = MAY_IMPORT[unit] | {unit}
    return [
        f"{m.path} imports {name}: {unit} may import only {', '.join(sorted(allowed - {unit})) or 'nothing of ours'}"
        for m in modules
        if m.unit == unit
        for name in m.imports
        if (target := unit_of(name)) is not None and target not in allowed
    ]


def unknown_units(modules: Iterable[Module]) -> list[str]:
    """Files whose unit the table does not know: a new package needs its row first."""
    return [f"{m.path}: unit {m.unit!r} has no row in MAY_IMPORT" for m in modules if m.unit not in MAY_IMPORT]


def _source_tree() -> list[Module]:
    return [
        parse(path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


MODULES = _source_tree()


def test_the_tree_was_read() -> None:
    units = {m.unit for m in MODULES}
    assert {"core", "engine", "store", "executor", "api", "settings", "client"} <= units, units


def test_every_module_belongs_to_a_unit_in_the_table() -> None:
    assert not unknown_units(MODULES)


@pytest.mark.parametrize("library", sorted(LIBRARY_HOMES))
def test_libraries_stay_in_their_rooms(library: str) -> None:
    assert not (found := library_violations(library, MODULES)), "\n".join(found)


@pytest.mark.parametrize("unit", sorted(STDLIB_ONLY))
def test_plain_units_use_the_standard_library_only(unit: str) -> None:
    assert not (found := stdlib_violations(unit, MODULES)), "\n".join(found)


@pytest.mark.parametrize("unit", sorted(MAY_IMPORT))
def test_no_unit_imports_above_its_layer(unit: str) -> None:
    assert not (found := layer_violations(unit, MODULES)), "\n".join(found)


# The checker on synthetic violations: each row of each table catches what it forbids.

_TOP_LEVEL_MODULES = frozenset({"__init__", "errors", "settings", "redaction", "ports", "runtime"})


def _path_in(unit: str) -> str:
    return f"{unit}.py" if unit in _TOP_LEVEL_MODULES else f"{unit}/synthetic.py"


@pytest.mark.parametrize("library", sorted(LIBRARY_HOMES))
def test_the_checker_catches_a_library_out_of_its_room(library: str) -> None:
    outsider = next(u for u in ("engine", "core", "api") if u not in LIBRARY_HOMES[library])
    home = sorted(LIBRARY_HOMES[library])[0]
    modules = [
        parse(_path_in(outsider), f"import {library}.x\nfrom framework.plugins.{library} import Plugin"),
        parse(_path_in(home), f"from {library} import y"),
    ]
    homes = ", ".join(sorted(LIBRARY_HOMES[library]))
    assert library_violations(library, modules) == [
        f"{_path_in(outsider)} imports {library}.x: {library} belongs in {homes} only",
        f"{_path_in(outsider)} imports framework.plugins.{library}: {library} belongs in {homes} only",
    ]


@pytest.mark.parametrize("unit", sorted(STDLIB_ONLY))
def test_the_checker_catches_a_third_party_import_in_a_plain_unit(unit: str) -> None:
    source = "from __future__ import annotations\nimport json\nimport yaml\nfrom coordinator.engine import Engine\n"
    path = _path_in(unit)
    found = stdlib_violations(unit, [parse(path, source)])
    assert [f.split(":")[0] for f in found] == [f"{path} imports yaml", f"{path} imports coordinator.engine"]


@pytest.mark.parametrize("unit", sorted(MAY_IMPORT))
def test_the_checker_catches_an_import_across_the_layers(unit: str) -> None:
    forbidden = sorted(set(MAY_IMPORT) - MAY_IMPORT[unit] - {unit, "__init__"})
    assert forbidden, f"{unit} may import everything: the row enforces nothing"
    source = "\n".join(f"from coordinator.{target} import thing" for target in forbidden)
    found = layer_violations(unit, [parse(_path_in(unit), source)])
    assert len(found) == len(forbidden), found


def test_relative_and_root_imports_are_resolved() -> None:
    source = "from ...telemetry import spans\nfrom .. import http\nfrom coordinator import errors, __version__\n"
    module = parse("executor/inner/deep.py", source)
    assert module.imports == (
        "coordinator.telemetry",
        "coordinator.executor",
        "coordinator.errors",
        "coordinator.__version__",
    )
    assert [unit_of(n) for n in module.imports] == ["telemetry", "executor", "errors", ROOT]
    assert layer_violations("executor", [module]) == [
        "executor/inner/deep.py imports coordinator.telemetry: executor may import only "
        + ", ".join(sorted(MAY_IMPORT["executor"]))
    ]
    assert unknown_units([parse("newpkg/a.py", "")]) == ["newpkg/a.py: unit 'newpkg' has no row in MAY_IMPORT"]
