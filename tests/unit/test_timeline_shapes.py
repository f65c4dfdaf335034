"""The timeline of a saga with a parallel group and a pivot, whole screens from the API's JSON.

order-checkout as shipped: reserve, then [charge | book_courier] side by side, then ship (the
pivot), then confirm. A straight-line saga's screens are pinned in test_timeline.py, unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from coordinator.cli.timeline import render_timeline
from tests.unit.test_timeline import TRACE, act, comp, events, execution

ANSI = re.compile(r"\x1b\[[0-9;]*m")
EID = "0b9e6c51-7d0e-4c36-9a43-5d1f0c2b7e11"
HEADER = f"order-checkout v1 · execution {EID}"
GROUP = "pay_and_book"
CONFIRM_503 = "HTTP 503: mail relay unavailable"
GAVE_UP = f"attempt 3: {CONFIRM_503} (gave up after 3 attempts)"


def checkout(
    status: str, steps: dict[str, str], *, end_ms: float, error: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The execution JSON: charge and book_courier are the group's members, ship the pivot."""
    ex = execution(status, steps, end_ms=end_ms, error=error)
    for step in ex["steps"]:
        step["group"] = GROUP if step["name"] in ("charge", "book_courier") else None
        step["pivot"] = step["name"] == "ship"
    return ex


def up_to_confirm() -> list[tuple[float, str, dict[str, Any]]]:
    """Reserve, the group's two calls side by side (book_courier answers first), ship, and confirm
    bouncing three times."""
    return [
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (5, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=4)),
        (6, "attempt_started", act("charge", 1)),
        (6, "attempt_started", act("book_courier", 1)),
        (12, "attempt_succeeded", act("book_courier", 1, status_code=201, duration_ms=6)),
        (15, "attempt_succeeded", act("charge", 1, status_code=201, duration_ms=9)),
        (16, "attempt_started", act("ship", 1)),
        (20, "attempt_succeeded", act("ship", 1, status_code=201, duration_ms=4)),
        (21, "attempt_started", act("confirm", 1)),
        (23, "attempt_failed", act("confirm", 1, status_code=503, error=CONFIRM_503, duration_ms=2)),
        (23, "retry_scheduled", act("confirm", 2, delay_ms=80)),
        (103, "attempt_started", act("confirm", 2)),
        (105, "attempt_failed", act("confirm", 2, status_code=503, error=CONFIRM_503, duration_ms=2)),
        (105, "retry_scheduled", act("confirm", 3, delay_ms=160)),
        (265, "attempt_started", act("confirm", 3)),
        (267, "attempt_failed", act("confirm", 3, status_code=503, error=CONFIRM_503, duration_ms=2)),
        (267, "step_failed", act("confirm", 3, error=GAVE_UP) | {"attempt": None}),
        (267, "execution_failed", {"step": "confirm", "direction": "action", "error": GAVE_UP}),
    ]


FORWARD_LINES = [
    "   +0.000s  ▶ started",
    "   +0.001s  → reserve         attempt 1  201     4 ms  ok",
    "   +0.006s  ┌ pay_and_book (parallel)",
    "   +0.006s  │ → charge        attempt 1  201     9 ms  ok",
    "   +0.006s  │ → book_courier  attempt 1  201     6 ms  ok",
    "   +0.016s  → ship            attempt 1  201     4 ms  ok",
    "   +0.020s  ── point of no return: ship succeeded ──",
    f"   +0.021s  → confirm         attempt 1  503     2 ms  failed: {CONFIRM_503} · retry in 80 ms",
    f"   +0.103s  → confirm         attempt 2  503     2 ms  failed: {CONFIRM_503} · retry in 160 ms",
    f"   +0.265s  → confirm         attempt 3  503     2 ms  failed: {CONFIRM_503}",
    f"   +0.267s  ✗ confirm failed: {GAVE_UP}",
    "   +0.267s  ■ failed going forward: nothing is rolled back past the point of no return",
]
STOOD = {"reserve": "succeeded", "charge": "succeeded", "book_courier": "succeeded", "ship": "succeeded"}


def test_a_failure_past_the_pivot_ends_failed_going_forward_with_retry_as_the_way_on() -> None:
    error = {"step": "confirm", "message": GAVE_UP, "direction": "action"}
    ex = checkout("failed", {**STOOD, "confirm": "failed"}, end_ms=267, error=error)
    assert render_timeline(ex, events(*up_to_confirm())) == "\n".join(
        [
            f"{HEADER} · failed · 0.267s · trace {TRACE}",
            *FORWARD_LINES,
            f"failed going forward: confirm failed ({CONFIRM_503} (gave up after 3 attempts));"
            " nothing is rolled back past ship; still in effect: reserve, charge, book_courier, ship",
            "needs an operator: confirm failed past the point of no return (ship); nothing was rolled back",
            f"  fix the cause, then carry on forward:  saga retry {EID}",
        ]
    )


def test_an_operator_retry_past_the_pivot_carries_on_forward_and_the_group_reads_side_by_side() -> None:
    ex = checkout("completed", {**STOOD, "confirm": "succeeded"}, end_ms=400)
    evs = events(
        *up_to_confirm(),
        (350, "retry_requested", {"direction": "action"}),
        (351, "attempt_started", act("confirm", 4)),
        (353, "attempt_succeeded", act("confirm", 4, status_code=201, duration_ms=2)),
        (400, "execution_completed", {}),
    )
    assert render_timeline(ex, evs) == "\n".join(
        [
            f"{HEADER} · completed · 0.400s · trace {TRACE}",
            *FORWARD_LINES,
            "   +0.350s  ⟳ operator retry: carrying on forward from confirm",
            "   +0.351s  → confirm         attempt 4  201     2 ms  ok",
            "   +0.400s  ■ completed",
            "completed: reserve → [charge | book_courier] → ship → confirm (2 retries)",
        ]
    )


def test_a_member_that_fails_rolls_the_group_back_together_and_the_pivot_is_never_reached() -> None:
    declined = "HTTP 402: card declined"
    error = {"step": "charge", "message": f"attempt 1: {declined}"}
    steps = {"reserve": "compensated", "charge": "failed", "book_courier": "compensated", "ship": "skipped"}
    ex = checkout("compensated", {**steps, "confirm": "skipped"}, end_ms=60, error=error)
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (5, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=4)),
        (6, "attempt_started", act("charge", 1)),
        (6, "attempt_started", act("book_courier", 1)),
        (10, "attempt_failed", act("charge", 1, status_code=402, error=declined, duration_ms=4)),
        # fail fast: the rollback waits for book_courier's call in flight, so the two are apart
        (10, "step_failed", act("charge", 1, error=f"attempt 1: {declined}")),
        (30, "attempt_succeeded", act("book_courier", 1, status_code=201, duration_ms=24)),
        (30, "rollback_started", {"step": "charge", "error": f"attempt 1: {declined}"}),
        (31, "attempt_started", comp("book_courier", 1)),
        (40, "attempt_succeeded", comp("book_courier", 1, status_code=200, duration_ms=9)),
        (41, "attempt_started", comp("reserve", 1)),
        (50, "attempt_succeeded", comp("reserve", 1, status_code=200, duration_ms=9)),
        (60, "execution_compensated", {}),
    )
    assert render_timeline(ex, evs) == "\n".join(
        [
            f"{HEADER} · compensated · 0.060s · trace {TRACE}",
            "   +0.000s  ▶ started",
            "   +0.001s  → reserve         attempt 1  201     4 ms  ok",
            "   +0.006s  ┌ pay_and_book (parallel)",
            f"   +0.006s  │ → charge        attempt 1  402     4 ms  failed: {declined}",
            "   +0.006s  │ → book_courier  attempt 1  201    24 ms  ok",
            f"   +0.030s  ⟲ rollback: charge failed: attempt 1: {declined}",
            "   +0.031s  ┌ pay_and_book (parallel)",
            "   +0.031s  │ ↩ book_courier  attempt 1  200     9 ms  undone",
            "   +0.041s  ↩ reserve         attempt 1  200     9 ms  undone",
            "   +0.060s  ■ compensated",
            f"compensated: charge failed ({declined}); undone: book_courier, reserve",
        ]
    )


def test_a_member_stopped_before_its_retry_says_so_inside_the_group() -> None:
    declined = "HTTP 402: card declined"
    stopped = "stopped before attempt 2: step 'charge' failed"
    steps = {"reserve": "compensated", "charge": "failed", "book_courier": "failed", "ship": "skipped"}
    ex = checkout("compensated", steps, end_ms=30, error={"step": "charge", "message": f"attempt 1: {declined}"})
    evs = events(
        (0, "execution_started", {}),
        (1, "attempt_started", act("reserve", 1)),
        (5, "attempt_succeeded", act("reserve", 1, status_code=201, duration_ms=4)),
        (6, "attempt_started", act("charge", 1)),
        (6, "attempt_started", act("book_courier", 1)),
        (8, "attempt_failed", act("book_courier", 1, status_code=503, error="HTTP 503: busy", duration_ms=2)),
        (8, "retry_scheduled", act("book_courier", 2, delay_ms=200)),
        (10, "attempt_failed", act("charge", 1, status_code=402, error=declined, duration_ms=4)),
        (10, "step_failed", act("charge", 1, error=f"attempt 1: {declined}")),
        (10, "step_failed", act("book_courier", 2, error=stopped)),
        (10, "rollback_started", {"step": "charge", "error": f"attempt 1: {declined}"}),
        (11, "attempt_started", comp("reserve", 1)),
        (20, "attempt_succeeded", comp("reserve", 1, status_code=200, duration_ms=9)),
        (30, "execution_compensated", {}),
    )
    out = render_timeline(ex, evs).splitlines()
    assert out[3:8] == [
        "   +0.006s  ┌ pay_and_book (parallel)",
        f"   +0.006s  │ → charge        attempt 1  402     4 ms  failed: {declined}",
        "   +0.006s  │ → book_courier  attempt 1  503     2 ms  failed: HTTP 503: busy · retry in 200 ms",
        f"   +0.010s  │ ✗ book_courier failed: {stopped}",
        f"   +0.010s  ⟲ rollback: charge failed: attempt 1: {declined}",
    ]


def test_a_pivot_whose_outcome_is_unknown_offers_retry_and_cancel() -> None:
    unknown = "the outcome of the pivot step 'ship' is unknown, so it is not rolled back: attempt 1: timed out"
    error = {"step": "ship", "message": unknown, "direction": "action"}
    steps = {"reserve": "succeeded", "charge": "succeeded", "book_courier": "succeeded", "ship": "failed"}
    ex = checkout("failed", {**steps, "confirm": "pending"}, end_ms=40, error=error)
    evs = events(
        *up_to_confirm()[:7],
        (16, "attempt_started", act("ship", 1)),
        (36, "attempt_failed", act("ship", 1, error="timed out", duration_ms=20)),
        (36, "step_failed", act("ship", 1, error="attempt 1: timed out")),
        (36, "execution_failed", {"step": "ship", "direction": "action", "error": unknown}),
    )
    *_, ended, summary, need, retry, cancel = render_timeline(ex, evs).splitlines()
    assert "point of no return: ship succeeded" not in render_timeline(ex, evs)
    assert ended == f"   +0.036s  ■ failed: {unknown}"
    assert summary == (
        "failed going forward: ship failed (the outcome of the pivot step 'ship' is unknown, so it is not"
        " rolled back: attempt 1: timed out); still in effect: reserve, charge, book_courier"
    )
    assert need == "needs an operator: whether ship (the point of no return) took effect is unknown"
    assert retry == f"  to carry on forward (it is re-sent under its key):  saga retry {EID}"
    assert cancel == f"  or to roll back the steps before it:                saga cancel {EID}"


def test_the_bracket_and_the_pivot_are_painted_only_when_asked() -> None:
    error = {"step": "confirm", "message": GAVE_UP, "direction": "action"}
    ex = checkout("failed", {**STOOD, "confirm": "failed"}, end_ms=267, error=error)
    plain = render_timeline(ex, events(*up_to_confirm()))
    colored = render_timeline(ex, events(*up_to_confirm()), color=True)
    assert "\x1b[2m┌\x1b[0m pay_and_book" in colored and "\x1b[2m│\x1b[0m " in colored  # the bracket is faint
    assert "\x1b[1m── point of no return: ship succeeded ──\x1b[0m" in colored
    assert ANSI.sub("", colored) == plain
