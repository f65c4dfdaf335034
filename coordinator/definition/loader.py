"""Definition files on disk: `${VAR}` expansion, discovery, and offline validation of a folder."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from coordinator.definition.compiler import compile_definition
from coordinator.definition.documents import parse_document
from coordinator.errors import DefinitionInvalid, Problem

SCHEMA_FILE_NAME = "saga-definition.schema.json"
SUFFIXES = (".yaml", ".yml", ".json")
_CONTENT_TYPES = {".json": "application/json", ".yaml": "application/yaml", ".yml": "application/yaml"}
# `$${` is an escaped, literal `${`; otherwise `${NAME}` or `${NAME:-default}`.
_VARIABLE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class FileResult(tuple[Path, list[Problem]]):
    """One file's outcome: `(path, problems)`, plus a summary of the saga when it compiled."""

    summary: str | None

    def __new__(cls, path: Path, problems: list[Problem], summary: str | None = None) -> FileResult:
        """A result for `path`; `summary` such as `order-checkout v1, 3 steps` when valid."""
        result = super().__new__(cls, (path, problems))
        result.summary = summary
        return result


def expand_variables(text: str, env: Mapping[str, str]) -> str:
    """Replace `${VAR}` and `${VAR:-default}` in `text` from `env`.

    This is how a shipped definition points at `${INVENTORY_URL:-http://127.0.0.1:8101}`: hosts
    change per deployment at load time, never through runtime templates. As in a shell, `:-` also
    applies when the variable is set but empty. `$${` stands for a literal `${`.

    Raises:
        DefinitionInvalid: a variable without default is not set (every such variable is listed).
    """
    missing: list[Problem] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            line = text.count("\n", 0, match.start()) + 1
            missing.append(Problem("$", f"environment variable {name} (line {line}) is not set and has no default"))
        return ""

    expanded = _VARIABLE.sub(replace, text)
    if missing:
        raise DefinitionInvalid(missing[0].message, missing)
    return expanded


def load_definition_file(path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read a .yaml, .yml or .json definition, expanding `${VAR}` from `env` (default os.environ).

    Raises:
        DefinitionInvalid: the text is not UTF-8, a variable is missing, or it does not parse.
        OSError: the file cannot be read.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"the file is not UTF-8 text (byte {exc.start + 1})"
        raise DefinitionInvalid(message, [Problem("$", message)]) from None
    expanded = expand_variables(text, os.environ if env is None else env)
    return parse_document(expanded.encode("utf-8"), _CONTENT_TYPES.get(path.suffix.lower()))


def find_definition_files(directory: Path) -> list[Path]:
    """The definition files directly in `directory`, sorted by name.

    Hidden files and the editor schema (`saga-definition.schema.json`) are skipped.

    Raises:
        OSError: `directory` does not exist or cannot be listed.
    """
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix.lower() in SUFFIXES
        and not path.name.startswith(".")
        and path.name != SCHEMA_FILE_NAME
        and path.is_file()
    )


def validate_directory(directory: Path, env: Mapping[str, str] | None = None) -> list[tuple[Path, list[Problem]]]:
    """Compile every definition file in `directory`; per file, its problems (empty when valid).

    Each file compiles as its own `version` (1 when it has none). Two files defining the same
    name and version are reported on the second. Each item is a `FileResult`, whose `summary`
    `format_report` shows for valid files.

    Raises:
        OSError: `directory` cannot be listed.
    """
    return validate_files(find_definition_files(directory), env)


def validate_files(paths: Iterable[Path], env: Mapping[str, str] | None = None) -> list[tuple[Path, list[Problem]]]:
    """`validate_directory` for the given files, in their order (two defining one version: the second)."""
    results: list[tuple[Path, list[Problem]]] = []
    seen: dict[tuple[str, int], Path] = {}
    for path in paths:
        try:
            document = load_definition_file(path, env)
            declared = document.get("version")
            version = declared if isinstance(declared, int) and not isinstance(declared, bool) else 1
            spec = compile_definition(document, version=version)
        except DefinitionInvalid as exc:
            results.append(FileResult(path, exc.problems or [Problem("$", exc.detail)]))
            continue
        except OSError as exc:
            results.append(FileResult(path, [Problem("$", f"cannot read the file: {exc.strerror or exc}")]))
            continue
        key = (spec.name, spec.version)
        if key in seen:
            problem = Problem("name", f"saga {spec.name!r} version {spec.version} is also defined in {seen[key]}")
            results.append(FileResult(path, [problem]))
            continue
        seen[key] = path
        steps = f"{len(spec.steps)} step{'s' if len(spec.steps) != 1 else ''}"
        results.append(FileResult(path, [], f"{spec.name} v{spec.version}, {steps}"))
    return results


def format_report(results: Iterable[tuple[Path, list[Problem]]]) -> str:
    """A readable report: `ok  sagas/x.yaml (order-checkout v1, 3 steps)`, or the file and its problems."""
    lines: list[str] = []
    for result in results:
        path, problems = result
        if not problems:
            summary = getattr(result, "summary", None)
            lines.append(f"ok  {path}" + (f" ({summary})" if summary else ""))
            continue
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines.append(f"FAIL {path} ({count})")
        lines.extend(f"    {problem.path}: {problem.message}" for problem in problems)
    return "\n".join(lines) if lines else "no definition files found"
