"""The rules of the shapes beyond a straight line (SPEC sections 7.1, 7.2), on the raw document.

Each problem is reported at the JSON path of what breaks the rule: a nested group, a group name
already taken, a second pivot, a pivot inside a group, a compensation on or after the pivot.
Sibling references are template problems (`consistency`); the member count is a model check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coordinator.definition.layout import PlacedStep, group_of, placed_steps
from coordinator.errors import Problem


def shape_problems(document: Mapping[str, Any]) -> list[Problem]:
    """Every problem with the groups and the pivot of `document`."""
    placed = placed_steps(document)
    return [*_nesting_problems(placed), *_group_name_problems(document, placed), *_pivot_problems(placed)]


def _nesting_problems(placed: list[PlacedStep]) -> list[Problem]:
    return [
        Problem(f"{p.path}.parallel", "groups do not nest: a member of a parallel group must be a step")
        for p in placed
        if p.group is not None and group_of(p.step) is not None
    ]


def _group_name_problems(document: Mapping[str, Any], placed: list[PlacedStep]) -> list[Problem]:
    taken: dict[str, str] = {}
    for p in placed:
        name = p.step.get("name")
        if isinstance(name, str):
            taken.setdefault(name, p.path)
    problems: list[Problem] = []
    entries = document.get("steps")
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        parallel = group_of(entry)
        name = parallel.get("name") if parallel is not None else None
        if not isinstance(name, str):
            continue
        if name in taken:
            problems.append(
                Problem(
                    f"steps[{i}].parallel.name",
                    f"name {name!r} is already used by {taken[name]}: step and group names are unique together",
                )
            )
        else:
            taken[name] = f"steps[{i}]"
    return problems


def _pivot_problems(placed: list[PlacedStep]) -> list[Problem]:
    problems: list[Problem] = []
    pivot: PlacedStep | None = None
    for p in placed:
        if p.step.get("pivot") is not True:
            continue
        if p.group is not None:
            problems.append(
                Problem(
                    f"{p.path}.pivot",
                    "a member of a parallel group cannot be the pivot: the point of no return is one step",
                )
            )
        elif pivot is not None:
            problems.append(Problem(f"{p.path}.pivot", f"a saga has at most one pivot, and {pivot.path} is one"))
        else:
            pivot = p
    if pivot is None:
        return problems
    for p in placed[pivot.position :]:
        if p.step.get("compensation") is not None:
            where = "the pivot" if p is pivot else "a step after the pivot"
            problems.append(
                Problem(
                    f"{p.path}.compensation",
                    f"{where} may not declare a compensation: once the pivot succeeded nothing is rolled back, "
                    "so nothing would ever run it",
                )
            )
    return problems
