"""The one table of how the command line shows things: the arrow of each direction, the mark of
each history event, and the colour of each status.

The timeline (ANSI escapes) and the operator's tables (rich styles) both read it, so a status or
an event looks the same wherever it appears. A new `HistoryEventType` or status needs a row here;
tests/unit/test_cli_symbols.py fails until it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from coordinator.core.history import HistoryEventType
from coordinator.core.state import Direction, ExecutionStatus, StepStatus

__all__ = [
    "BOLD",
    "DIRECTION_ARROWS",
    "EVENT_MARKS",
    "FAINT",
    "GROUP_MEMBER",
    "GROUP_OPENING",
    "PIVOT_LINE",
    "PIVOT_MARK",
    "PLAIN",
    "STATUS_LOOKS",
    "WARNING",
    "Colour",
    "Look",
    "Mark",
    "arrow_of",
    "event_look",
    "paint",
    "status_look",
]


class Colour(StrEnum):
    """A colour, named as rich names it; `ansi` is the SGR code of the same colour."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    CYAN = "cyan"
    DIM = "dim"
    """Faint text rather than a hue: for what a reader skims (offsets, counts, unused steps)."""

    @property
    def ansi(self) -> str:
        """The SGR parameter that selects this colour in a terminal."""
        return _ANSI[self]


_ANSI = {Colour.GREEN: "32", Colour.YELLOW: "33", Colour.RED: "31", Colour.CYAN: "36", Colour.DIM: "2"}
_ANSI_BOLD = "1"
_ANSI_RESET = "0"


@dataclass(frozen=True, slots=True)
class Look:
    """How a piece of text is drawn: an optional colour, optionally bold."""

    colour: Colour | None = None
    bold: bool = False

    @property
    def style(self) -> str:
        """The rich style string (`"bold red"`); empty for plain text."""
        return " ".join([*(["bold"] if self.bold else []), *([self.colour.value] if self.colour else [])])

    @property
    def ansi(self) -> tuple[str, ...]:
        """The SGR parameters, colour first (empty for plain text)."""
        return (*([self.colour.ansi] if self.colour else []), *([_ANSI_BOLD] if self.bold else []))

    def emphasised(self) -> Look:
        """The same colour, bold: for headers and summaries."""
        return replace(self, bold=True)


PLAIN = Look()
BOLD = Look(bold=True)
FAINT = Look(Colour.DIM)
WARNING = Look(Colour.YELLOW)
"""Something a reader should notice that is not a failure (a lost answer, a wait before a retry)."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A glyph and the look it is drawn with."""

    glyph: str
    look: Look = PLAIN


DIRECTION_ARROWS: Mapping[str, Mark] = {
    Direction.ACTION: Mark("→"),
    Direction.COMPENSATION: Mark("↩", Look(Colour.CYAN)),
}
"""A forward call, and a compensation (tinted so a rollback stands out in a long timeline)."""

GROUP_OPENING = Mark("┌", FAINT)
"""Above a parallel group's lines: its bracket opens with the group's name."""
GROUP_MEMBER = Mark("│", FAINT)
"""Before each line of a group's member: the bracket that holds the members side by side."""
PIVOT_MARK = Mark("⟂", BOLD)
"""After the pivot step's name: the point of no return."""
PIVOT_LINE = Mark("──", BOLD)
"""The timeline's rule once the pivot succeeded: nothing before it will be undone."""

STATUS_LOOKS: Mapping[str, Look] = {
    # Steps and executions share these names (running, failed, compensating, compensated).
    StepStatus.PENDING: FAINT,
    StepStatus.RUNNING: Look(Colour.CYAN),
    StepStatus.WAITING: Look(Colour.CYAN),
    StepStatus.SUCCEEDED: Look(Colour.GREEN),
    StepStatus.FAILED: Look(Colour.RED, bold=True),
    StepStatus.COMPENSATING: Look(Colour.YELLOW),
    StepStatus.COMPENSATED: Look(Colour.YELLOW),
    StepStatus.COMPENSATION_FAILED: Look(Colour.RED, bold=True),
    StepStatus.SKIPPED: FAINT,
    ExecutionStatus.COMPLETED: Look(Colour.GREEN),
}
"""The colour of each step and execution status."""

_UNKNOWN_STATUS = Look(Colour.CYAN)
"""A status a newer server sent: shown as still going, which is all this client can tell."""

EVENT_MARKS: Mapping[HistoryEventType, Mark] = {
    HistoryEventType.EXECUTION_STARTED: Mark("▶"),
    HistoryEventType.ATTEMPT_STARTED: Mark("·"),
    HistoryEventType.ATTEMPT_RESENT: Mark("·"),
    HistoryEventType.ATTEMPT_SUCCEEDED: Mark("✓", Look(Colour.GREEN)),
    HistoryEventType.ATTEMPT_FAILED: Mark("✗", Look(Colour.RED)),
    HistoryEventType.ATTEMPT_WAITING: Mark("⧖", Look(Colour.CYAN)),
    HistoryEventType.CALLBACK_RECEIVED: Mark("↵", Look(Colour.CYAN)),
    HistoryEventType.HEARTBEAT_RECEIVED: Mark("♥"),
    HistoryEventType.RETRY_SCHEDULED: Mark(" ", WARNING),  # blank: the line sits under its attempt
    HistoryEventType.STEP_FAILED: Mark("✗", Look(Colour.RED)),
    HistoryEventType.ROLLBACK_STARTED: Mark("⟲", WARNING),
    HistoryEventType.CANCEL_REQUESTED: Mark("⏹", WARNING),
    HistoryEventType.RETRY_REQUESTED: Mark("⟳", Look(Colour.CYAN)),
    HistoryEventType.COMPENSATION_RESOLVED: Mark("✎", WARNING),  # an operator's word, not a call
    HistoryEventType.EXECUTION_COMPLETED: Mark("■", Look(Colour.GREEN)),
    HistoryEventType.EXECUTION_COMPENSATED: Mark("■", WARNING),
    HistoryEventType.EXECUTION_FAILED: Mark("■", Look(Colour.RED)),
}
"""The glyph and colour of each kind of history entry."""


def status_look(status: str) -> Look:
    """The look of a step or execution status."""
    return STATUS_LOOKS.get(status, _UNKNOWN_STATUS)


def event_look(kind: HistoryEventType | str) -> Look:
    """The look of a history entry's type; plain for a type a newer server sent."""
    mark = EVENT_MARKS.get(kind) if isinstance(kind, HistoryEventType) else None
    return mark.look if mark is not None else PLAIN


def arrow_of(direction: str | None) -> str:
    """The arrow of a step event's direction; empty when it has none."""
    mark = DIRECTION_ARROWS.get(direction or "")
    return mark.glyph if mark is not None else ""


def paint(text: str, look: Look, *, color: bool) -> str:
    """`text` drawn in `look` with ANSI escapes when `color`; unchanged otherwise (pipes, tests)."""
    codes = look.ansi
    return f"\x1b[{';'.join(codes)}m{text}\x1b[{_ANSI_RESET}m" if color and codes else text
