"""The compensation-aware timeline: where each attempt, wait and mark sits in the SVG.

One row per step. Each row has a lane per direction: the forward call above, its compensation
beneath, on one time axis shared by every row, so a rollback reads bottom-up in the order it ran
and each undo sits under the step it undoes. Marks that concern the whole execution (rollback
began, cancel asked, an operator's retry) are vertical lines across every row.

A parallel group's members are rows side by side in time and stacked under one bracket (a
`GroupBand`); the pivot is a vertical line at the moment it succeeded: the point of no return.
Pure: the template only draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from coordinator.console.attempts import Attempt
from coordinator.console.formatting import duration
from coordinator.console.runs import Run, runs_of_retries
from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.state import Direction, ExecutionState

LABEL_WIDTH = 190
"""The column of step names, left of the time axis."""
PLOT_WIDTH = 820
AXIS_HEIGHT = 26
ROW_HEIGHT = 46
LANE_HEIGHT = 16
_FORWARD_LANE = 5
_COMPENSATION_LANE = 25
_MIN_BAR = 3.0
_CHAR = 6.4
"""The width of one character of the bar labels (11 px monospace), to tell whether a label fits."""

_MARKS: dict[HistoryEventType, tuple[str, str]] = {
    HistoryEventType.ROLLBACK_STARTED: ("rollback", "mark-rollback"),
    HistoryEventType.CANCEL_REQUESTED: ("cancel", "mark-cancel"),
    HistoryEventType.CANCEL_WITHDRAWN: ("cancel withdrawn: past the pivot", "mark-cancel"),
    HistoryEventType.RETRY_REQUESTED: ("operator retry", "mark-retry"),
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One attempt drawn in its lane."""

    x: float
    y: float
    width: float
    css: str
    label: str
    """Status and duration; empty when it fits neither inside nor after the bar."""
    label_inside: bool
    title: str
    """The full description, shown on hover and read by screen readers."""
    run_of: str | None = None
    """On a summarised timeline, a bar for a run of attempts (see runs.py): their step, whose own
    page draws each of them."""


@dataclass(frozen=True, slots=True)
class Gap:
    """A retry's wait: from the end of one attempt to the start of the next, with its reason."""

    x1: float
    x2: float
    y: float
    label: str
    title: str


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment that concerns the whole execution, or one lane (a resolve): a vertical line."""

    x: float
    y1: float
    y2: float
    label: str
    css: str


@dataclass(frozen=True, slots=True)
class Row:
    """One step: its name, status, position and the top of each lane."""

    name: str
    status: str
    y: float
    forward_y: float
    compensation_y: float
    group: str | None = None
    """The parallel group the step belongs to; rows of one group sit together under its bracket."""
    pivot: bool = False


@dataclass(frozen=True, slots=True)
class GroupBand:
    """A parallel group: a bracket left of its members' rows, which ran side by side."""

    name: str
    y1: float
    y2: float
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    """A label on the time axis."""

    x: float
    label: str


@dataclass(slots=True)
class Timeline:
    """Everything the SVG template draws, in pixels."""

    width: float
    height: float
    rows: list[Row] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    groups: list[GroupBand] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    span_ms: int = 0


def layout_timeline(
    state: ExecutionState,
    attempts: Sequence[Attempt],
    events: Sequence[HistoryEvent],
    *,
    now_ms: int,
    groups: Mapping[str, str] | None = None,
    pivot: str | None = None,
    summarise: bool = False,
) -> Timeline:
    """Place every attempt, wait and mark of the execution; `now_ms` ends what is still in flight.

    `groups` names the parallel group of each member step and `pivot` the pivot step, as the saga's
    definition says (both absent when the definition cannot be read: the rows are then drawn plain).
    With `summarise` (a long execution, see runs.py), each stretch of a lane's failed and retried
    attempts is one bar, titled with what they said.
    """
    groups = groups or {}
    origin = state.created_at_ms
    running = not state.status.is_terminal
    ends = [state.updated_at_ms, *(e.at_ms for e in events)]
    ends += [a.ended_ms for a in attempts if a.ended_ms is not None]
    if running:
        ends.append(now_ms)
    if state.wakeup is not None:
        ends.append(state.wakeup.due_at_ms)
    span = max(max(ends) - origin, 1)
    scale = PLOT_WIDTH / span

    def x_of(ms: int) -> float:
        return LABEL_WIDTH + (ms - origin) * scale

    rows: list[Row] = []
    for index, step_state in enumerate(state.steps):
        top = AXIS_HEIGHT + index * ROW_HEIGHT
        rows.append(
            Row(
                step_state.name,
                step_state.status.value,
                top,
                top + _FORWARD_LANE,
                top + _COMPENSATION_LANE,
                group=groups.get(step_state.name),
                pivot=step_state.name == pivot,
            )
        )
    by_name = {row.name: row for row in rows}
    timeline = Timeline(
        width=LABEL_WIDTH + PLOT_WIDTH + 16, height=AXIS_HEIGHT + len(rows) * ROW_HEIGHT + 8, rows=rows, span_ms=span
    )
    timeline.ticks = [Tick(x_of(origin + t), duration(t) if t else "0") for t in _tick_offsets(span)]
    timeline.groups = _group_bands(rows)

    lanes: dict[tuple[str, Direction], list[Attempt]] = {}
    for attempt in attempts:
        if attempt.step in by_name and attempt.started_ms is not None:
            lanes.setdefault((attempt.step, attempt.direction), []).append(attempt)
    for (step, direction), lane in lanes.items():
        row = by_name[step]
        y = row.compensation_y if direction is Direction.COMPENSATION else row.forward_y
        drawn: list[Attempt | Run] = runs_of_retries(lane) if summarise else list(lane)
        _lay_lane(timeline, drawn, y, x_of, running=running, now_ms=now_ms)

    if state.wakeup is not None and 0 <= state.wakeup.step < len(rows):
        wakeup = state.wakeup
        row = rows[wakeup.step]
        y = row.compensation_y if wakeup.direction is Direction.COMPENSATION else row.forward_y
        timeline.gaps.append(
            Gap(
                x_of(max(state.updated_at_ms, origin)),
                x_of(wakeup.due_at_ms),
                y + LANE_HEIGHT / 2,
                f"attempt {wakeup.attempt} due",
                f"attempt {wakeup.attempt} is due in this wait",
            )
        )

    bottom = timeline.height - 8
    for event in events:
        if event.type in _MARKS:
            label, css = _MARKS[event.type]
            timeline.marks.append(Mark(x_of(event.at_ms), AXIS_HEIGHT - 4, bottom, label, css))
        elif event.type is HistoryEventType.COMPENSATION_RESOLVED and event.step in by_name:
            row = by_name[event.step]
            timeline.marks.append(
                Mark(
                    x_of(event.at_ms),
                    row.compensation_y - 2,
                    row.compensation_y + LANE_HEIGHT + 2,
                    "resolved by hand",
                    "mark-resolved",
                )
            )
    if pivot is not None and pivot in by_name:
        passed = next(
            (
                a.ended_ms
                for a in attempts
                if a.step == pivot and a.direction is Direction.ACTION and a.succeeded and a.ended_ms is not None
            ),
            None,
        )
        if passed is not None:
            timeline.marks.append(Mark(x_of(passed), AXIS_HEIGHT - 4, bottom, "point of no return", "mark-pivot"))
    return timeline


def _group_bands(rows: Sequence[Row]) -> list[GroupBand]:
    """One band per run of consecutive rows of the same group (a group's members are adjacent)."""
    bands: list[GroupBand] = []
    run: list[Row] = []
    for row in [*rows, None]:
        if run and (row is None or row.group != run[0].group):
            assert run[0].group is not None
            bands.append(GroupBand(run[0].group, run[0].y, run[-1].y + ROW_HEIGHT, tuple(r.name for r in run)))
            run = []
        if row is not None and row.group is not None:
            run.append(row)
    return bands


def _lay_lane(
    timeline: Timeline,
    lane: list[Attempt | Run],
    y: float,
    x_of: Callable[[int], float],
    *,
    running: bool,
    now_ms: int,
) -> None:
    """The bars of one lane, with the waits between them; labels where they fit before the next bar."""
    placed: list[tuple[Attempt | Run, float, float]] = []
    for item in lane:
        first, last = (item.first, item.last) if isinstance(item, Run) else (item, item)
        assert first.started_ms is not None
        end = last.ended_ms
        if end is None:
            end = now_ms if running and not last.lost else (last.started_ms or first.started_ms)
        x1 = x_of(first.started_ms)
        placed.append((item, x1, max(x_of(end) - x1, _MIN_BAR)))
    for i, (item, x, width) in enumerate(placed):
        room = (placed[i + 1][1] if i + 1 < len(placed) else LABEL_WIDTH + PLOT_WIDTH + 12) - x
        if isinstance(item, Run):
            attempt = item.last
            label = _run_label(item)
        else:
            attempt = item
            label = _bar_label(attempt, running=running)
        inside = len(label) * _CHAR + 6 <= width
        if not inside and len(label) * _CHAR + width + 8 > room:
            label = label.split(" ", 1)[0] if len(label.split(" ", 1)[0]) * _CHAR + width + 8 <= room else ""
        if isinstance(item, Run):
            bar = Bar(
                x,
                y,
                width,
                _bar_css(attempt, running=running) + " bar-run",
                label,
                inside,
                _run_title(item),
                run_of=attempt.step,
            )
        else:
            bar = Bar(x, y, width, _bar_css(attempt, running=running), label, inside, _bar_title(attempt))
        timeline.bars.append(bar)
        if attempt.wait_ms is not None and i + 1 < len(placed):
            gap_start = x + width
            next_x = placed[i + 1][1]
            text = f"wait {duration(attempt.wait_ms)}: {attempt.wait_reason}"
            fits = len(text) * _CHAR <= next_x - gap_start - 4
            timeline.gaps.append(Gap(gap_start, next_x, y + LANE_HEIGHT / 2, text if fits else "", text))


def _run_label(run: Run) -> str:
    codes = {a.status_code for a in run.attempts}
    code = next(iter(codes)) if len(codes) == 1 else None
    return f"{code if code is not None else 'failed'} x{len(run.attempts)}"


def _run_title(run: Run) -> str:
    what = "compensation" if run.first.compensation else "action"
    return f"{run.first.step} · {what} {run.describe()} · each on the step's page"


def _bar_label(attempt: Attempt, *, running: bool) -> str:
    code = str(attempt.status_code) if attempt.status_code is not None else "—"
    if attempt.succeeded is None:
        return "lost" if attempt.lost or not running else "in flight"
    took = duration(attempt.duration_ms) if attempt.duration_ms is not None else ""
    return f"{code} {took}".strip()


def _bar_css(attempt: Attempt, *, running: bool) -> str:
    lane = "undo" if attempt.compensation else "forward"
    if attempt.succeeded is None:
        state = "lost" if attempt.lost or not running else "inflight"
    else:
        state = "ok" if attempt.succeeded else "failed"
    return f"bar bar-{lane} bar-{state}"


def _bar_title(attempt: Attempt) -> str:
    what = "compensation" if attempt.compensation else "action"
    parts = [f"{attempt.step} · {what} attempt {attempt.number if attempt.number is not None else '?'}"]
    if attempt.status_code is not None:
        parts.append(f"HTTP {attempt.status_code}")
    if attempt.duration_ms is not None:
        parts.append(duration(attempt.duration_ms))
    if attempt.error:
        parts.append(attempt.error)
    if attempt.resent:
        parts.append("re-sent after a restart")
    if attempt.succeeded is None:
        parts.append("no answer recorded")
    return " · ".join(parts)


def _tick_offsets(span_ms: int) -> list[int]:
    """Round offsets from 0 to `span_ms`, about six of them (1, 2 or 5 times a power of ten)."""
    raw = span_ms / 6
    step = 1
    while step * 10 <= raw:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= raw:
            step *= factor
            break
    return list(range(0, span_ms + 1, step))
