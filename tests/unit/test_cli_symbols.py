"""The command line's one table of arrows, marks and colours covers everything it may be asked to draw."""

from __future__ import annotations

import pytest

from coordinator.cli.symbols import (
    DIRECTION_ARROWS,
    EVENT_MARKS,
    PLAIN,
    STATUS_LOOKS,
    Colour,
    Look,
    arrow_of,
    event_look,
    status_look,
)
from coordinator.cli.timeline import render_timeline
from coordinator.client import ExecutionStatus as ClientExecutionStatus
from coordinator.core.history import HistoryEventType
from coordinator.core.state import Direction, ExecutionStatus, StepStatus


def test_every_history_event_type_has_a_mark() -> None:
    assert set(EVENT_MARKS) == set(HistoryEventType)
    assert all(mark.glyph for mark in EVENT_MARKS.values())


@pytest.mark.parametrize("status", [*StepStatus, *ExecutionStatus, *ClientExecutionStatus])
def test_every_step_and_execution_status_has_a_look(status: str) -> None:
    assert status in STATUS_LOOKS


def test_every_direction_has_an_arrow() -> None:
    assert set(DIRECTION_ARROWS) == set(Direction)
    assert arrow_of("action") == "→" and arrow_of("compensation") == "↩"
    assert arrow_of(None) == "" and arrow_of("sideways") == ""


def test_a_look_is_the_same_colour_in_rich_and_in_ansi() -> None:
    failed = status_look("failed")
    assert failed.style == "bold red" and failed.ansi == ("31", "1")
    assert Look(Colour.GREEN).emphasised().ansi == ("32", "1")
    assert PLAIN.style == "" and PLAIN.ansi == ()


def test_what_a_newer_server_sends_is_drawn_without_failing() -> None:
    assert status_look("paused") == Look(Colour.CYAN)  # still going, as far as this version can tell
    assert event_look("something_new") == PLAIN
    assert event_look(HistoryEventType.ATTEMPT_FAILED) == Look(Colour.RED)


def test_the_timeline_paints_a_status_with_its_look() -> None:
    execution = {"saga": "s", "version": 1, "id": "e", "status": "compensating", "steps": []}
    header = render_timeline(execution, [], color=True).splitlines()[0]
    codes = ";".join(status_look("compensating").emphasised().ansi)
    assert f"\x1b[{codes}mcompensating\x1b[0m" in header
