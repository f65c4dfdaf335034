"""The console's timeline: history read into attempts, and attempts placed on lanes and one time axis."""

from __future__ import annotations

from coordinator.console.attempts import read_attempts
from coordinator.console.timeline import AXIS_HEIGHT, LABEL_WIDTH, PLOT_WIDTH, ROW_HEIGHT, layout_timeline
from coordinator.core.history import HistoryEvent, HistoryEventType
from coordinator.core.state import Direction, ExecutionState, ExecutionStatus, StepState, StepStatus

T0 = 1_800_000_000_000
H = HistoryEventType


def ev(
    at: int,
    type_: HistoryEventType,
    step: str | None = None,
    direction: Direction | None = None,
    attempt: int | None = None,
    **more: object,
) -> HistoryEvent:
    return HistoryEvent(type=type_, at_ms=T0 + at, step=step, direction=direction, attempt=attempt, **more)  # type: ignore[arg-type]


A, C = Direction.ACTION, Direction.COMPENSATION


def state(steps: dict[str, StepStatus], *, status: ExecutionStatus, end: int) -> ExecutionState:
    return ExecutionState(
        id="e-1",
        saga="trip",
        version=1,
        status=status,
        steps=tuple(StepState(name=n, status=s) for n, s in steps.items()),
        created_at_ms=T0,
        updated_at_ms=T0 + end,
    )


ROLLED_BACK = [
    ev(0, H.EXECUTION_STARTED),
    ev(0, H.ATTEMPT_STARTED, "reserve", A, 1),
    ev(10, H.ATTEMPT_SUCCEEDED, "reserve", A, 1, status_code=201, duration_ms=10),
    ev(10, H.ATTEMPT_STARTED, "charge", A, 1),
    ev(15, H.ATTEMPT_FAILED, "charge", A, 1, status_code=503, duration_ms=5, error="HTTP 503"),
    ev(15, H.RETRY_SCHEDULED, "charge", A, 2, delay_ms=100),
    ev(115, H.ATTEMPT_STARTED, "charge", A, 2),
    ev(120, H.ATTEMPT_FAILED, "charge", A, 2, status_code=402, duration_ms=5, error="HTTP 402: declined"),
    ev(120, H.ROLLBACK_STARTED, "charge", error="declined"),
    ev(120, H.ATTEMPT_STARTED, "reserve", C, 1),
    ev(130, H.ATTEMPT_SUCCEEDED, "reserve", C, 1, status_code=200, duration_ms=10),
    ev(130, H.EXECUTION_COMPENSATED),
]


def test_attempts_fold_outcomes_and_waits_into_the_attempt_they_belong_to() -> None:
    attempts = read_attempts(ROLLED_BACK)
    assert [(a.step, a.direction, a.number, a.status_code) for a in attempts] == [
        ("reserve", A, 1, 201),
        ("charge", A, 1, 503),
        ("charge", A, 2, 402),
        ("reserve", C, 1, 200),
    ]
    assert attempts[1].wait_ms == 100 and attempts[1].wait_reason == "HTTP 503"
    assert attempts[2].succeeded is False and attempts[3].succeeded is True


def test_the_compensation_sits_under_the_step_it_undoes_on_the_same_axis() -> None:
    steps = {"reserve": StepStatus.COMPENSATED, "charge": StepStatus.FAILED}
    timeline = layout_timeline(
        state(steps, status=ExecutionStatus.COMPENSATED, end=130),
        read_attempts(ROLLED_BACK),
        ROLLED_BACK,
        now_ms=T0 + 10_000,
    )
    reserve, charge = timeline.rows
    undo = next(b for b in timeline.bars if "bar-undo" in b.css)
    assert undo.y == reserve.compensation_y and reserve.forward_y < undo.y < charge.y
    forward = [b for b in timeline.bars if "bar-forward" in b.css]
    assert forward[0].x == LABEL_WIDTH  # the first attempt starts the axis
    assert undo.x + undo.width <= LABEL_WIDTH + PLOT_WIDTH + 0.01  # the last one ends it
    assert [b.css.split()[-1] for b in forward] == ["bar-ok", "bar-failed", "bar-failed"]
    (gap,) = timeline.gaps
    assert gap.y > charge.forward_y and "wait 100 ms: HTTP 503" in gap.title
    (mark,) = timeline.marks
    assert mark.label == "rollback" and mark.css == "mark-rollback"
    assert timeline.ticks[0].label == "0"


def test_an_attempt_in_flight_runs_to_now() -> None:
    history = [ev(0, H.EXECUTION_STARTED), ev(0, H.ATTEMPT_STARTED, "reserve", A, 1)]
    timeline = layout_timeline(
        state({"reserve": StepStatus.RUNNING}, status=ExecutionStatus.RUNNING, end=0),
        read_attempts(history),
        history,
        now_ms=T0 + 2000,
    )
    (bar,) = timeline.bars
    assert "bar-inflight" in bar.css and bar.label == "in flight"
    assert round(bar.x + bar.width) == LABEL_WIDTH + PLOT_WIDTH


def test_forty_steps_with_retries_get_a_row_each() -> None:
    names = [f"step-{i:02d}" for i in range(40)]
    history = [ev(0, H.EXECUTION_STARTED)]
    at = 0
    for name in names:
        history += [
            ev(at, H.ATTEMPT_STARTED, name, A, 1),
            ev(at + 3, H.ATTEMPT_FAILED, name, A, 1, status_code=503, duration_ms=3, error="HTTP 503"),
            ev(at + 3, H.RETRY_SCHEDULED, name, A, 2, delay_ms=20),
            ev(at + 23, H.ATTEMPT_STARTED, name, A, 2),
            ev(at + 30, H.ATTEMPT_SUCCEEDED, name, A, 2, status_code=200, duration_ms=7),
        ]
        at += 30
    history.append(ev(at, H.EXECUTION_COMPLETED))
    timeline = layout_timeline(
        state(dict.fromkeys(names, StepStatus.SUCCEEDED), status=ExecutionStatus.COMPLETED, end=at),
        read_attempts(history),
        history,
        now_ms=T0 + at,
    )
    assert [r.name for r in timeline.rows] == names
    assert timeline.height == AXIS_HEIGHT + 40 * ROW_HEIGHT + 8
    assert len(timeline.bars) == 80 and len(timeline.gaps) == 40
    for row in timeline.rows:  # every bar in its own row's forward lane
        mine = [b for b in timeline.bars if b.y == row.forward_y]
        assert len(mine) == 2
    assert all(LABEL_WIDTH <= b.x <= LABEL_WIDTH + PLOT_WIDTH for b in timeline.bars)


def test_group_members_overlap_in_time_under_one_bracket_and_the_pivot_is_a_line_when_it_succeeded() -> None:
    history = [
        ev(0, H.EXECUTION_STARTED),
        ev(0, H.ATTEMPT_STARTED, "reserve", A, 1),
        ev(10, H.ATTEMPT_SUCCEEDED, "reserve", A, 1, status_code=201, duration_ms=10),
        ev(10, H.ATTEMPT_STARTED, "charge", A, 1),
        ev(10, H.ATTEMPT_STARTED, "book", A, 1),
        ev(40, H.ATTEMPT_SUCCEEDED, "book", A, 1, status_code=200, duration_ms=30),
        ev(50, H.ATTEMPT_SUCCEEDED, "charge", A, 1, status_code=201, duration_ms=40),
        ev(50, H.ATTEMPT_STARTED, "ship", A, 1),
        ev(70, H.ATTEMPT_SUCCEEDED, "ship", A, 1, status_code=200, duration_ms=20),
        ev(70, H.EXECUTION_COMPLETED),
    ]
    names = ["reserve", "charge", "book", "ship"]
    timeline = layout_timeline(
        state(dict.fromkeys(names, StepStatus.SUCCEEDED), status=ExecutionStatus.COMPLETED, end=70),
        read_attempts(history),
        history,
        now_ms=T0 + 70,
        groups={"charge": "pay-and-book", "book": "pay-and-book"},
        pivot="ship",
    )
    (band,) = timeline.groups
    charge_row, book_row = timeline.rows[1], timeline.rows[2]
    assert band.members == ("charge", "book") and band.y1 == charge_row.y and band.y2 == book_row.y + ROW_HEIGHT
    charge_bar = next(b for b in timeline.bars if b.y == charge_row.forward_y)
    book_bar = next(b for b in timeline.bars if b.y == book_row.forward_y)
    assert charge_bar.x == book_bar.x  # side by side in time, stacked in rows
    assert [r.pivot for r in timeline.rows] == [False, False, False, True]
    (pivot,) = [m for m in timeline.marks if m.css == "mark-pivot"]
    ship_bar = next(b for b in timeline.bars if b.y == timeline.rows[3].forward_y)
    assert abs(pivot.x - (ship_bar.x + ship_bar.width)) < 0.01 and pivot.label == "point of no return"


def test_a_pivot_that_never_succeeded_draws_no_line() -> None:
    history = [
        ev(0, H.EXECUTION_STARTED),
        ev(0, H.ATTEMPT_STARTED, "ship", A, 1),
        ev(5, H.ATTEMPT_FAILED, "ship", A, 1, status_code=500, duration_ms=5, error="HTTP 500"),
    ]
    timeline = layout_timeline(
        state({"ship": StepStatus.FAILED}, status=ExecutionStatus.FAILED, end=5),
        read_attempts(history),
        history,
        now_ms=T0 + 5,
        pivot="ship",
    )
    assert not [m for m in timeline.marks if m.css == "mark-pivot"] and timeline.rows[0].pivot
