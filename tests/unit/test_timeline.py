"""`render_timeline`: the API's JSON in, a timeline a newcomer reads in one minute out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from coordinator.cli.timeline import render_timeline

T0 = datetime(2026, 11, 27, 5, 40, 44, 123000, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def iso(ms: float) -> str:
    """The API's time format, `ms` after T0."""
    return (T0 + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def events(*rows: tuple[float, str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in the API's shape from (ms after T0, type, fields); missing fields are null."""
    out = []
    for seq, (ms, type_, fields) in enumerate(rows, start=1):
        event = dict.fromkeys(("step", "direction", "attempt", "status_code", "error", "delay_ms", "duration_ms"))
        out.append({**event, "seq": seq, "at": iso(ms), "type": type_, **fields})
    return out


def act(step: str, attempt: int, **more: Any) -> dict[str, Any]:
    return {"step": step, "direction": "action", "attempt": attempt, **more}


def comp(step: str, attempt: int, **more: Any) -> dict[str, Any]:
    return {"step": step, "direction": "compensation", "attempt": attempt, **more}


def execution(
    status: str, steps: dict[str, str], *, end_ms: float, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": "0b9e6c51-7d0e-4c36-9a43-5d1f0c2b7e11",
        "saga": "order-checkout",
        "version": 1,
        "status": status,
        "input": {"order_id": "o-1"},
        "steps": [
            {
                "name": name,
                "status": st,
                "attempts": 1,
                "compensation_attempts": 0,
                "last_error": None,
                "last_status_code": None,
                "started_at": None,
                "finished_at": None,
            }
            for name, st in steps.items()
        ],
        "error": error,
        "trace_id": TRACE,
        "created_at": iso(0),
        "updated_at": iso(end_ms),
    }


def completed() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ex = execution("completed", {"reserve": "succeeded", "charge": "succeeded", "ship": "succeeded"}, end_ms=60)
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (13, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=12)),
        (14, "attempt_started", act("charge", 1)),
        (30, "attempt_succeeded", act("charge", 1, status_code=201, duration_ms=16)),
        (31, "attempt_started", act("ship", 1)),
        (59, "attempt_succeeded", act("ship", 1, status_code=201, duration_ms=28)),
        (60, "execution_completed", {}),
    )
    return ex, evs


def rolled_back() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    error = {"step": "charge", "message": "attempt 1: HTTP 402: card declined"}
    ex = execution(
        "compensated",
        {"reserve": "compensated", "charge": "failed", "ship": "skipped"},
        end_ms=40,
        error=error,
    )
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (13, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=12)),
        (14, "attempt_started", act("charge", 1)),
        (
            20,
            "attempt_failed",
            act("charge", 1, status_code=402, error="HTTP 402: card declined", duration_ms=6),
        ),
        (20, "step_failed", act("charge", 0, error="attempt 1: HTTP 402: card declined")),
        (20, "rollback_started", {"step": "charge", "error": "attempt 1: HTTP 402: card declined"}),
        (21, "attempt_started", comp("reserve", 1)),
        (39, "attempt_succeeded", comp("reserve", 1, status_code=200, duration_ms=18)),
        (40, "execution_compensated", {}),
    )
    return ex, evs


def with_retries() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ex = execution("completed", {"reserve": "succeeded", "charge": "succeeded", "ship": "succeeded"}, end_ms=1450)
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (10, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=9)),
        (11, "attempt_started", act("charge", 1)),
        (15, "attempt_failed", act("charge", 1, status_code=503, error="HTTP 503", duration_ms=4)),
        (15, "retry_scheduled", act("charge", 2, delay_ms=120)),
        (136, "attempt_started", act("charge", 2)),
        (5136, "attempt_failed", act("charge", 2, error="timed out after 5000 ms", duration_ms=5000)),
        (5136, "retry_scheduled", act("charge", 3, delay_ms=1250)),
        (6390, "attempt_started", act("charge", 3)),
        (6400, "attempt_succeeded", act("charge", 3, status_code=201, duration_ms=10)),
        (6401, "attempt_started", act("ship", 1)),
        (6449, "attempt_succeeded", act("ship", 1, status_code=201, duration_ms=48)),
        (6450, "execution_completed", {}),
    )
    ex["updated_at"] = iso(6450)
    return ex, evs


def failed() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    message = "compensation of step 'charge' failed after 2 attempt(s): HTTP 500: refund processor unavailable"
    ex = execution(
        "failed",
        {"reserve": "succeeded", "charge": "compensation_failed", "ship": "failed"},
        end_ms=900,
        error={"step": "charge", "message": message},
    )
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (10, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=9)),
        (11, "attempt_started", act("charge", 1)),
        (20, "attempt_succeeded", act("charge", 1, status_code=201, duration_ms=9)),
        (21, "attempt_started", act("ship", 1)),
        (
            30,
            "attempt_failed",
            act("ship", 1, status_code=409, error="HTTP 409: we do not deliver to 'nowhere'", duration_ms=9),
        ),
        (30, "step_failed", act("ship", 0, error="attempt 1: HTTP 409: we do not deliver to 'nowhere'")),
        (
            30,
            "rollback_started",
            {"step": "ship", "error": "attempt 1: HTTP 409: we do not deliver to 'nowhere'"},
        ),
        (31, "attempt_started", comp("charge", 1)),
        (
            40,
            "attempt_failed",
            comp("charge", 1, status_code=500, error="HTTP 500: refund processor unavailable", duration_ms=9),
        ),
        (40, "retry_scheduled", comp("charge", 2, delay_ms=850)),
        (890, "attempt_started", comp("charge", 2)),
        (
            899,
            "attempt_failed",
            comp("charge", 2, status_code=500, error="HTTP 500: refund processor unavailable", duration_ms=9),
        ),
        (900, "execution_failed", {"step": "charge", "error": message}),
    )
    return ex, evs


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_completed_saga_shows_each_step_once_and_a_summary() -> None:
    out = render_timeline(*completed())
    header, *body, summary = lines(out)
    assert header == (
        f"order-checkout v1 · execution 0b9e6c51-7d0e-4c36-9a43-5d1f0c2b7e11 · completed · 0.060s · trace {TRACE}"
    )
    assert body[0].split() == ["+0.000s", "▶", "started"]
    # one line per attempt, at the time it was sent, with the answer and how long it took
    assert body[1].split() == ["+0.001s", "→", "reserve", "attempt", "1", "201", "12", "ms", "ok"]
    assert body[3].split() == ["+0.031s", "→", "ship", "attempt", "1", "201", "28", "ms", "ok"]
    assert body[-1].split() == ["+0.060s", "■", "completed"]
    assert len(body) == 5
    assert summary == "completed: reserve → charge → ship"


def test_rolled_back_saga_says_why_and_what_was_undone() -> None:
    out = render_timeline(*rolled_back())
    assert "compensated · 0.040s" in lines(out)[0]
    assert "→ charge   attempt 1  402     6 ms  failed: HTTP 402: card declined" in out
    assert "+0.020s  ⟲ rollback: charge failed: attempt 1: HTTP 402: card declined" in out
    assert "+0.021s  ↩ reserve  attempt 1  200    18 ms  undone" in out
    assert "■ compensated" in out
    # step_failed and rollback_started say the same thing: one line, not two
    assert out.count("card declined") == 3  # the attempt, the rollback, the summary
    assert lines(out)[-1] == "compensated: charge failed (HTTP 402: card declined); undone: reserve"


def test_retries_fold_the_wait_into_the_failed_attempt() -> None:
    out = render_timeline(*with_retries())
    assert "→ charge   attempt 1  503     4 ms  failed · retry in 120 ms" in out
    # no status code (a timeout): a dash, the error, and the wait in seconds
    assert "→ charge   attempt 2    —    5.0 s  failed: timed out after 5000 ms · retry in 1.2 s" in out
    assert "+6.390s  → charge   attempt 3  201    10 ms  ok" in out
    assert not any("retry_scheduled" in line for line in lines(out))
    assert lines(out)[-1] == "completed: reserve → charge → ship (2 retries)"
    assert "6.450s" in lines(out)[0]


def test_failed_saga_names_the_stuck_compensation_and_the_way_out() -> None:
    ex, evs = failed()
    eid = ex["id"]
    assert render_timeline(ex, evs) == "\n".join(
        [
            f"order-checkout v1 · execution {eid} · failed · 0.900s · trace {TRACE}",
            "   +0.000s  ▶ started",
            "   +0.001s  → reserve  attempt 1  201     9 ms  ok",
            "   +0.011s  → charge   attempt 1  201     9 ms  ok",
            "   +0.021s  → ship     attempt 1  409     9 ms  failed: HTTP 409: we do not deliver to 'nowhere'",
            "   +0.030s  ⟲ rollback: ship failed: attempt 1: HTTP 409: we do not deliver to 'nowhere'",
            "   +0.031s  ↩ charge   attempt 1  500     9 ms  failed: HTTP 500: refund processor unavailable"
            " · retry in 850 ms",
            "   +0.890s  ↩ charge   attempt 2  500     9 ms  failed: HTTP 500: refund processor unavailable",
            "   +0.900s  ■ failed: compensation of step 'charge' failed after 2 attempt(s):"
            " HTTP 500: refund processor unavailable",
            "failed: ship failed (HTTP 409: we do not deliver to 'nowhere'); undone: nothing;"
            " could not undo: charge; still in effect: reserve",
            # the same next commands as `saga get` prints (coordinator.cli.next_steps)
            "needs an operator: the compensation of charge failed; its effect is still in place",
            f"  fix the cause, then:           saga retry {eid}",
            f'  or undo charge by hand, then:  saga resolve {eid} --step charge --note "what you did"',
        ]
    )


def test_a_waiting_retry_counts_down_and_says_what_it_waits_for() -> None:
    ex = execution("running", {"reserve": "succeeded", "charge": "running", "ship": "pending"}, end_ms=20)
    ex["next_attempt"] = {
        "step": "charge",
        "direction": "action",
        "attempt": 2,
        "due_at": iso(30_020),
        "reason": "attempt 1: HTTP 503: warming up",
    }
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (13, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=12)),
        (14, "attempt_started", act("charge", 1)),
        (20, "attempt_failed", act("charge", 1, status_code=503, error="HTTP 503: warming up", duration_ms=6)),
        (20, "retry_scheduled", act("charge", 2, delay_ms=30_000)),
    )
    screens = [render_timeline(ex, evs, now=T0 + timedelta(seconds=s)) for s in (3.02, 4.02)]
    body = [
        "   +0.000s  ▶ started",
        "   +0.001s  → reserve  attempt 1  201    12 ms  ok",
        "   +0.014s  → charge   attempt 1  503     6 ms  failed: HTTP 503: warming up · retry in 30.0 s",
    ]
    hint = f"to stop retrying and roll back:  saga cancel {ex['id']}"
    assert screens == [
        "\n".join(
            [
                f"order-checkout v1 · execution {ex['id']} · running · {so_far} so far · trace {TRACE}",
                *body,
                f"running: waiting for attempt 2 of charge, due in {left}; attempt 1: HTTP 503: warming up",
                hint,
            ]
        )
        for so_far, left in (("3.020s", "27s"), ("4.020s", "26s"))
    ]
    # Without a clock (a saved report), the due time itself.
    assert "running: waiting for attempt 2 of charge, due at 2026-11-27 05:41:14.143Z;" in render_timeline(ex, evs)


def test_color_only_when_asked() -> None:
    plain = render_timeline(*failed())
    colored = render_timeline(*failed(), color=True)
    assert not ANSI.search(plain)
    assert "\x1b[31m" in colored  # failures in red
    assert ANSI.sub("", colored) == plain


def test_event_order_comes_from_seq_not_from_the_list() -> None:
    ex, evs = rolled_back()
    assert render_timeline(ex, list(reversed(evs))) == render_timeline(ex, evs)


def test_running_execution_shows_the_attempt_in_flight() -> None:
    ex = execution("running", {"reserve": "succeeded", "charge": "running", "ship": "pending"}, end_ms=14)
    ex["steps"][1]["attempts"] = 2
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (13, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=12)),
        (14, "attempt_started", act("charge", 1)),
    )
    out = render_timeline(ex, evs)
    assert "running · 0.014s so far" in lines(out)[0]
    assert "→ charge   attempt 1    …           in flight" in out
    assert lines(out)[-1] == "running: charge (attempt 2)"


def test_restart_cancel_and_operator_retry_are_readable() -> None:
    ex = execution("compensated", {"reserve": "compensated", "charge": "skipped", "ship": "skipped"}, end_ms=90)
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (50, "attempt_resent", act("reserve", 1)),
        (55, "cancel_requested", {"error": "cancelled by operator"}),
        (60, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=10)),
        (60, "rollback_started", {"error": "cancelled by operator"}),
        (61, "attempt_started", comp("reserve", 1)),
        (70, "attempt_succeeded", comp("reserve", 1, status_code=404, duration_ms=9)),
        (80, "retry_requested", {}),
        (85, "something_new", {"step": "reserve"}),
        (90, "execution_compensated", {}),
    )
    out = render_timeline(ex, evs)
    assert "→ reserve  attempt 1    …           no answer recorded (the coordinator restarted)" in out
    assert "→ reserve  attempt 1  201    10 ms  re-sent after a restart: ok" in out
    assert "⏹ cancel requested: cancelled by operator" in out
    assert "⟲ rollback: cancelled by operator" in out
    assert "↩ reserve  attempt 1  404     9 ms  undone (nothing left to undo)" in out
    assert "⟳ operator retry" in out
    assert "· something_new (reserve)" in out  # unknown types still show, plainly
    assert lines(out)[-1] == "compensated: cancelled by operator; undone: reserve"


def test_read_only_steps_are_reported_as_kept() -> None:
    ex = execution(
        "compensated",
        {"verify": "succeeded", "book": "failed"},
        end_ms=20,
        error={"step": "book", "message": "attempt 1: HTTP 409"},
    )
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("verify", 1)),
        (5, "attempt_succeeded", act("verify", 1, status_code=200, duration_ms=4)),
        (6, "attempt_started", act("book", 1)),
        (10, "attempt_failed", act("book", 1, status_code=409, error="HTTP 409", duration_ms=4)),
        (20, "execution_compensated", {}),
    )
    out = render_timeline(ex, evs)
    # with no rollback_started in the list, the reason comes from the execution's error
    assert lines(out)[-1] == "compensated: book failed (HTTP 409); undone: nothing; kept (no compensation): verify"
    assert "→ book    attempt 1  409     4 ms  failed" in out


def test_survives_missing_fields_and_no_events() -> None:
    out = render_timeline({"status": "completed", "steps": []}, [])
    assert lines(out) == ["? v? · execution ? · completed", "completed: no steps"]
    out = render_timeline({}, [{"type": "attempt_failed", "at": 1795758044123.0, "status_code": 500}])
    assert "failed" in out


def test_columns_stay_aligned_past_nine_attempts() -> None:
    ex = execution("completed", {"charge": "succeeded"}, end_ms=100)
    rows: list[tuple[float, str, dict[str, Any]]] = [(0, "execution_started", {})]
    for n in range(1, 11):
        rows.append((n * 9, "attempt_started", act("charge", n)))
        outcome = "attempt_succeeded" if n == 10 else "attempt_failed"
        rows.append((n * 9 + 1, outcome, act("charge", n, status_code=201 if n == 10 else 503, duration_ms=1)))
    attempt_lines = [line for line in lines(render_timeline(ex, events(*rows))) if "→" in line]
    assert len(attempt_lines) == 10
    assert len({line.index(" ms ") for line in attempt_lines}) == 1
