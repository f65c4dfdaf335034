"""The seams of ARCHITECTURE.md, enforced: who may import what."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "coordinator"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(sub: str = "") -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


def test_core_imports_only_the_standard_library_and_itself() -> None:
    for path in _modules("core"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("coordinator.core"), (
                f"{path.relative_to(PACKAGE)} imports {name}"
            )


@pytest.mark.parametrize(
    ("library", "home"),
    [("sqlmodel", "store"), ("sqlalchemy", "store"), ("alembic", "store"), ("litestar", "api"),
     ("apscheduler", "timers")],
)
def test_libraries_stay_in_their_package(library: str, home: str) -> None:
    for path in _modules():
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == home:
            continue
        offenders = [n for n in _imports(path) if n.split(".")[0] == library]
        assert not offenders, f"{relative} imports {offenders}; only coordinator/{home}/ may"


@pytest.mark.parametrize("layer", ["store", "executor", "timers", "telemetry", "definition"])
def test_adapters_do_not_import_the_engine_or_the_api(layer: str) -> None:
    for path in _modules(layer):
        for name in _imports(path):
            assert not name.startswith(("coordinator.engine", "coordinator.api")), (
                f"{path.relative_to(PACKAGE)} imports {name}"
            )
