"""The shape of an execution's saga as the command line draws it: which parallel group each step is
a member of, and which step is the pivot (the point of no return).

Read from the steps of `GET /v1/executions/{id}` (each says its `group` and whether it is the
`pivot`), so `saga get`, `saga watch` and the demo timeline draw a group and the pivot the same way.
A straight-line saga has no groups and no pivot, and every screen draws it as it always did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coordinator.cli.symbols import PIVOT_LINE

__all__ = ["GUTTER_WIDTH", "SagaShape", "group_heading", "pivot_line"]

GUTTER_WIDTH = 2
"""A group member's line starts with `│ `: the bracket that holds the group's lines together."""


@dataclass(frozen=True, slots=True)
class SagaShape:
    """Which group each step is a member of, and the pivot's name (None: the saga has none)."""

    groups: Mapping[str, str] = field(default_factory=dict)
    """Member step name -> its group's name; steps on their own are absent."""
    pivot: str | None = None

    @classmethod
    def of_steps(cls, steps: Iterable[Mapping[str, Any]]) -> SagaShape:
        """Read the shape from an execution's `steps` (the API's JSON); fields missing mean none."""
        groups: dict[str, str] = {}
        pivot: str | None = None
        for step in steps:
            name = str(step.get("name", ""))
            if step.get("group"):
                groups[name] = str(step["group"])
            if step.get("pivot") is True and pivot is None:
                pivot = name
        return cls(groups=groups, pivot=pivot)

    def group_of(self, step: str | None) -> str | None:
        """The group `step` is a member of; None for a step on its own (or no step)."""
        return self.groups.get(step) if step else None

    def name_width(self, step: str) -> int:
        """How many columns `step` takes where step names are aligned: a member's gutter counts."""
        return len(step) + (GUTTER_WIDTH if step in self.groups else 0)

    def chain(self, names: Sequence[str]) -> str:
        """`reserve → [charge | book_courier] → ship`: the steps in order, a group's members (which
        ran side by side) in brackets; a straight line reads `reserve → charge → ship` as before."""
        links: list[str] = []
        members: list[str] = []
        for index, name in enumerate(names):
            group = self.group_of(name)
            if group is None:
                links.append(name)
                continue
            members.append(name)
            if index + 1 == len(names) or self.group_of(names[index + 1]) != group:
                links.append(f"[{' | '.join(members)}]" if len(members) > 1 else name)
                members = []
        return " → ".join(links)


def group_heading(group: str) -> str:
    """What the bracket above a group's members says: `pay_and_book (parallel)`."""
    return f"{group} (parallel)"


def pivot_line(step: str) -> str:
    """The timeline's line once the pivot succeeded: nothing before it will be undone."""
    return f"{PIVOT_LINE.glyph} point of no return: {step} succeeded {PIVOT_LINE.glyph}"
