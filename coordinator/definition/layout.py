"""Where each step of a raw definition document sits: its JSON path, its group, its flat position.

A saga's `steps` holds steps and `parallel:` groups of steps. Everything that checks a document
step by step (templates, secrets, names, the pivot rules) walks this one flat list, in definition
order, which is also the order of `SagaSpec.steps` and of `state.steps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PlacedStep:
    """One step of a document, with where it is written and where it runs."""

    path: str
    """Its JSON path: `steps[2]`, or `steps[1].parallel.steps[0]` for a group member."""
    step: Mapping[str, Any]
    position: int
    """Its index in the flat list of steps (`SagaSpec.steps`)."""
    group: str | None = None
    """The name of its group, None for a step on its own."""
    group_path: str | None = None
    """The JSON path of its group entry (`steps[1]`)."""
    members: tuple[int, ...] = ()
    """The flat positions of its group's members, itself included (empty for a lone step)."""

    @property
    def first_of_stage(self) -> int:
        """The position of the first step that starts with it: its group's first member, or itself."""
        return self.members[0] if self.members else self.position


def group_of(entry: Any) -> Mapping[str, Any] | None:
    """The `parallel:` mapping of a `steps` entry that is a group, else None."""
    if isinstance(entry, Mapping) and "parallel" in entry and "name" not in entry:
        parallel = entry["parallel"]
        return parallel if isinstance(parallel, Mapping) else {}
    return None


def placed_steps(document: Mapping[str, Any]) -> list[PlacedStep]:
    """Every step of `document`, group members in place, in definition order. Shapes that are
    wrong (not a list, not a mapping) are skipped: the model checks report them."""
    entries = document.get("steps")
    placed: list[PlacedStep] = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        parallel = group_of(entry)
        if parallel is None:
            placed.append(PlacedStep(f"steps[{i}]", _mapping(entry), len(placed)))
            continue
        members = parallel.get("steps")
        members = members if isinstance(members, list) else []
        name = parallel.get("name")
        start = len(placed)
        positions = tuple(range(start, start + len(members)))
        for j, member in enumerate(members):
            placed.append(
                PlacedStep(
                    f"steps[{i}].parallel.steps[{j}]",
                    _mapping(member),
                    start + j,
                    group=name if isinstance(name, str) else f"steps[{i}]",
                    group_path=f"steps[{i}]",
                    members=positions,
                )
            )
    return placed


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
