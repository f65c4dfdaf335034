"""A long execution's earlier attempts told as runs: which attempts a run takes, what it says, and how
the timeline and the step list write it (inert, and linked to the step's page)."""

from __future__ import annotations

from coordinator.console.attempt_html import attempts_html
from coordinator.console.attempts import Attempt, read_attempts
from coordinator.console.runs import Run, runs_of_retries, step_page, summarised
from coordinator.console.timeline import layout_timeline
from coordinator.console.timeline_svg import bars_svg
from coordinator.core.history import HistoryEvent
from coordinator.core.state import ExecutionStatus, StepStatus
from tests.unit.test_console_timeline import T0, A, C, H, ev, state

HOSTILE = '<script>alert("x")</script>&"\''


def _retried(
    step: str, first: int, count: int, at: int, *, code: int = 503, error: str = "HTTP 503"
) -> list[HistoryEvent]:
    """`count` failed attempts from number `first`, each followed by a wait of 100 ms."""
    events: list[HistoryEvent] = []
    for n in range(first, first + count):
        events += [
            ev(at, H.ATTEMPT_STARTED, step, A, n),
            ev(at + 5, H.ATTEMPT_FAILED, step, A, n, status_code=code, duration_ms=5, error=error, outcome="retryable"),
            ev(at + 5, H.RETRY_SCHEDULED, step, A, n + 1, delay_ms=100),
        ]
        at += 105
    return events


def test_only_stretches_of_failed_and_retried_attempts_become_runs() -> None:
    history = [
        *_retried("pay", 1, 3, 0),
        ev(315, H.ATTEMPT_STARTED, "pay", A, 4),
        ev(320, H.ATTEMPT_SUCCEEDED, "pay", A, 4, status_code=200, duration_ms=5),  # an operator retry follows
        *_retried("pay", 5, 1, 400),
        ev(505, H.ATTEMPT_STARTED, "pay", A, 6),
        ev(510, H.ATTEMPT_FAILED, "pay", A, 6, status_code=402, duration_ms=5, error="HTTP 402", outcome="fatal"),
    ]
    drawn = runs_of_retries(read_attempts(history))

    assert [(d.numbers if isinstance(d, Run) else d.number) for d in drawn] == ["attempts 1 to 3", 4, 5, 6]
    run = drawn[0]
    assert isinstance(run, Run)
    assert run.describe() == (
        "attempts 1 to 3 · HTTP 503 x3 · retryable x3 · took 5 ms each · then waited 100 ms each · error HTTP 503 x3"
    )
    # A lane's last attempt stays a bar of its own even when it was retried (its retry is due).
    assert all(isinstance(d, Attempt) for d in runs_of_retries(read_attempts(_retried("pay", 1, 1, 0))))
    assert [type(d) for d in runs_of_retries(read_attempts(_retried("pay", 1, 3, 0)))] == [Run, Attempt]


def test_a_run_says_every_code_error_and_spread_it_stands_for() -> None:
    mixed = read_attempts([*_retried("pay", 1, 2, 0), *_retried("pay", 3, 1, 210, code=500, error="HTTP 500: boom")])
    run = Run(tuple(mixed))
    assert run.codes == "HTTP 503 x2, HTTP 500 x1"
    assert run.errors == "HTTP 503 x2, HTTP 500: boom x1"
    assert Run(tuple(mixed[:1])).describe().startswith("attempt 1 · HTTP 503 x1")
    assert summarised(501) and not summarised(500)


def test_a_summarised_timeline_keeps_each_wait_after_a_run_and_links_the_run_inertly() -> None:
    history = [
        ev(0, H.EXECUTION_STARTED),
        *_retried(HOSTILE, 1, 4, 0, error=HOSTILE),
        ev(420, H.ATTEMPT_STARTED, HOSTILE, A, 5),
        ev(425, H.ATTEMPT_SUCCEEDED, HOSTILE, A, 5, status_code=200, duration_ms=5),
        ev(430, H.EXECUTION_COMPLETED),
    ]
    attempts = read_attempts(history)
    st = state({HOSTILE: StepStatus.SUCCEEDED}, status=ExecutionStatus.COMPLETED, end=430)
    every = layout_timeline(st, attempts, history, now_ms=T0 + 430)
    told = layout_timeline(st, attempts, history, now_ms=T0 + 430, summarise=True)

    assert len(every.bars) == 5 and len(every.gaps) == 4
    assert len(told.bars) == 2 and len(told.gaps) == 1  # the run, its last wait, the success
    run_bar = told.bars[0]
    assert run_bar.run_of == HOSTILE and "bar-run" in run_bar.css and run_bar.label == "503 x4"
    assert run_bar.x == every.bars[0].x and run_bar.x + run_bar.width == every.bars[3].x + every.bars[3].width
    assert told.gaps[0] == every.gaps[3]
    svg = str(bars_svg(told.bars, HOSTILE))
    assert "<script" not in svg and svg.count("<a href=") == 1
    assert f'<a href="{step_page(HOSTILE, HOSTILE)}">' in svg and "%3Cscript%3E" in svg


def test_the_step_list_tells_each_lanes_earlier_attempts_in_one_line_and_the_latest_in_full() -> None:
    forward = read_attempts(_retried("pay", 1, 3, 0, error=HOSTILE))
    undo = [Attempt("pay", C, n, T0 + 1000 + n, T0 + 1001 + n, succeeded=n == 2, status_code=200) for n in (1, 2)]
    attempts = [*forward, *undo]
    html = str(
        attempts_html(
            attempts, step="pay", execution_id="ex 1", with_exchange={id(forward[-1]), id(undo[-1])}, summarise=True
        )
    )

    assert "<script" not in html and "&lt;script&gt;" in html
    assert html.count('<p class="attempt forward brief run">') == 1 and html.count("attempts 1 to 2 ·") == 1
    assert html.count('<p class="attempt undo brief run">') == 1 and "attempt 1 · HTTP 200 x1" in html
    assert html.count('href="/ui/executions/ex%201/steps/pay"') == 2
    assert html.count("<details") == 2 and 'id="a-3-pay-action-3"' in html and 'id="a-5-pay-compensation-2"' in html
    assert html.index("brief run") < html.index('id="a-3-pay-action-3"') < html.index('class="attempt undo brief run"')


def test_a_step_without_a_run_still_points_to_its_page_when_an_exchange_is_not_shown() -> None:
    forward = Attempt("pay", A, 1, T0, T0 + 5, succeeded=True, status_code=200)
    undo = Attempt("pay", C, 1, T0 + 10, T0 + 15, succeeded=True, status_code=200)
    html = str(attempts_html([forward, undo], step="pay", execution_id="e", with_exchange={id(undo)}, summarise=True))
    assert "brief run" not in html and html.count('href="/ui/executions/e/steps/pay"') == 1
    everything = {id(forward), id(undo)}
    html = str(attempts_html([forward, undo], step="pay", execution_id="e", with_exchange=everything, summarise=True))
    assert "/steps/" not in html
