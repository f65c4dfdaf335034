"""A saga definition as a diagram: its steps in order, each with the compensation that undoes it.

The forward calls run down the left column; each compensation sits beside its step in the right
column, and the rollback runs up that column (newest first). Pure geometry for the SVG template;
a pivot (no rollback past it) would be one more horizontal line, a parallel group one box
around its members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

BOX_WIDTH = 340
BOX_HEIGHT = 40
ROW_GAP = 18
COLUMN_GAP = 70
_MARGIN = 12
_URL_CHARS = 46


@dataclass(frozen=True, slots=True)
class Box:
    """One call drawn as a box."""

    x: float
    y: float
    title: str
    detail: str
    css: str


@dataclass(frozen=True, slots=True)
class Arrow:
    """A line with an arrow head from (x1, y1) to (x2, y2)."""

    x1: float
    y1: float
    x2: float
    y2: float
    css: str


@dataclass(slots=True)
class Diagram:
    """Everything the diagram template draws."""

    width: float
    height: float
    boxes: list[Box] = field(default_factory=list)
    arrows: list[Arrow] = field(default_factory=list)


def layout_diagram(document: dict[str, Any]) -> Diagram:
    """The diagram of a definition document (as registered)."""
    steps = [s for s in document.get("steps") or [] if isinstance(s, dict)]
    left, right = _MARGIN, _MARGIN + BOX_WIDTH + COLUMN_GAP
    pitch = BOX_HEIGHT + ROW_GAP
    diagram = Diagram(width=right + BOX_WIDTH + _MARGIN, height=_MARGIN * 2 + max(len(steps), 1) * pitch)
    previous_undo: float | None = None
    for index, step in enumerate(steps):
        y = _MARGIN + index * pitch
        diagram.boxes.append(
            Box(left, y, f"{index + 1}. {step.get('name', '?')}", _call_text(step.get("action")), "box box-forward")
        )
        if index:
            diagram.arrows.append(Arrow(left + 30, y - ROW_GAP, left + 30, y, "arrow arrow-forward"))
        compensation = step.get("compensation")
        if isinstance(compensation, dict):
            diagram.boxes.append(
                Box(right, y, f"undo {step.get('name', '?')}", _call_text(compensation), "box box-undo")
            )
            diagram.arrows.append(
                Arrow(left + BOX_WIDTH, y + BOX_HEIGHT / 2, right, y + BOX_HEIGHT / 2, "arrow arrow-link")
            )
            if previous_undo is not None:  # rollback runs upwards, newest first
                diagram.arrows.append(Arrow(right + 30, y, right + 30, previous_undo + BOX_HEIGHT, "arrow arrow-undo"))
            previous_undo = y
        else:
            diagram.boxes.append(Box(right, y, "no compensation", "kept if a later step fails", "box box-none"))
    return diagram


def _call_text(call: Any) -> str:
    if not isinstance(call, dict):
        return ""
    url = str(call.get("url", ""))
    parts = urlsplit(url)
    shown = (parts.netloc + parts.path) if parts.netloc else url
    if len(shown) > _URL_CHARS:
        shown = shown[: _URL_CHARS - 1] + "…"
    return f"{call.get('method', 'POST')} {shown}"
