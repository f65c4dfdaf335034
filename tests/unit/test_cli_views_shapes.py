"""`saga get` of a saga with a parallel group and a pivot, whole screens from the API's JSON; and
the client reading the fields that say so (absent from an older server's answer)."""

from __future__ import annotations

import re
from typing import Any

from coordinator.cli.execution_view import render_execution
from coordinator.client.models import Execution
from tests.unit.test_cli_views import EID, T0, TRACE, URL, exchange, failed_execution, iso, step

ANSI = re.compile(r"\x1b\[[0-9;]*m")
GROUP = "pay_and_book"
GAVE_UP = "attempt 3: HTTP 503: mail relay unavailable (gave up after 3 attempts)"


def checkout(status: str, error: dict[str, Any] | None, *steps: dict[str, Any]) -> dict[str, Any]:
    return {
        **failed_execution(),
        "saga": "order-checkout",
        "status": status,
        "error": error,
        "steps": list(steps),
        "created_at": iso(0),
        "updated_at": iso(1),
    }


def stood(name: str, status: int, **more: Any) -> dict[str, Any]:
    """A forward call that succeeded and whose effect stands."""
    last = exchange("action", 1, f"{URL}/{name}", status)
    return step(name, "succeeded", effect_in_place=True, last_attempt=last, **more)


def past_the_pivot() -> dict[str, Any]:
    """The group and the pivot went through; confirm bounced three times, so it ended going forward."""
    bounced = exchange("action", 3, f"{URL}/confirm", 503)
    return checkout(
        "failed",
        {"step": "confirm", "message": GAVE_UP, "direction": "action"},
        stood("reserve", 201),
        stood("charge", 201, group=GROUP),
        stood("book_courier", 201, group=GROUP),
        stood("ship", 201, pivot=True),
        step("confirm", "failed", attempts=3, last_error=GAVE_UP, last_status_code=503, last_attempt=bounced),
    )


def test_get_brackets_the_group_marks_the_pivot_and_says_a_retry_carries_it_forward() -> None:
    screen = render_execution(Execution.from_json(past_the_pivot()), now=T0)
    assert screen == "\n".join(
        [
            f"order-checkout v1 · execution {EID} · failed · created 2026-11-27 05:40:44.123Z · trace {TRACE}",
            f"error: confirm: {GAVE_UP}",
            "",
            "step            status                       attempts  undo attempts  last call",
            f"reserve         succeeded (still in effect)         1              0  → POST {URL}/reserve -> 201",
            "┌ pay_and_book (parallel)",
            f"│ charge        succeeded (still in effect)         1              0  → POST {URL}/charge -> 201",
            f"│ book_courier  succeeded (still in effect)         1              0  → POST {URL}/book_courier -> 201",
            f"ship ⟂ pivot    succeeded (still in effect)         1              0  → POST {URL}/ship -> 201",
            f"confirm         failed                              3              0  → POST {URL}/confirm -> 503",
            f"                {GAVE_UP}",
            "",
            "needs an operator: confirm failed past the point of no return (ship); nothing was rolled back",
            f"  fix the cause, then carry on forward:  saga retry {EID}",
        ]
    )


def test_a_members_details_stay_inside_the_bracket_during_a_rollback() -> None:
    declined = "attempt 1: HTTP 402: card declined"
    undone = exchange("compensation", 1, f"{URL}/book_courier/undo", 200)
    execution = checkout(
        "compensating",
        {"step": "charge", "message": declined},
        step("reserve", "succeeded", effect_in_place=True),
        step("charge", "failed", group=GROUP, last_error=declined, last_status_code=402),
        step(
            "book_courier",
            "compensated",
            group=GROUP,
            compensation_attempts=1,
            last_attempt=undone,
            response={"status": 201, "headers": {}, "body": {"booking_id": "b-1"}},
        ),
        step("ship", "pending", attempts=0, pivot=True),
        step("confirm", "pending", attempts=0),
    )
    screen = render_execution(Execution.from_json(execution), now=T0).splitlines()
    assert screen[3:] == [
        "step            status                       attempts  undo attempts  last call",
        "reserve         succeeded (still in effect)         1              0",
        "┌ pay_and_book (parallel)",
        "│ charge        failed                              1              0",
        f"│               {declined}",
        f"│ book_courier  compensated                         1              1  ↩ POST {URL}/book_courier/undo -> 200",
        '│               answer: 201 {"booking_id": "b-1"}',
        "ship ⟂ pivot    pending                             0              0",
        "confirm         pending                             0              0",
    ]


def test_get_at_a_pivot_whose_outcome_is_unknown_offers_retry_or_cancel() -> None:
    unknown = "the outcome of the pivot step 'ship' is unknown, so it is not rolled back: attempt 3: timed out"
    execution = checkout(
        "failed",
        {"step": "ship", "message": unknown, "direction": "action"},
        stood("reserve", 201),
        step("ship", "failed", attempts=3, pivot=True, effect_in_place=True, last_error="attempt 3: timed out"),
    )
    hint = render_execution(Execution.from_json(execution), now=T0).splitlines()[-3:]
    assert hint == [
        "needs an operator: whether ship (the point of no return) took effect is unknown",
        f"  to carry on forward (it is re-sent under its key):  saga retry {EID}",
        f"  or to roll back the steps before it:                saga cancel {EID}",
    ]


def test_the_bracket_and_the_pivot_mark_are_painted_only_when_asked() -> None:
    execution = Execution.from_json(past_the_pivot())
    plain = render_execution(execution, now=T0)
    colored = render_execution(execution, now=T0, color=True)
    assert "\x1b[2m┌\x1b[0m pay_and_book (parallel)" in colored
    assert "ship \x1b[1m⟂ pivot\x1b[0m" in colored
    assert ANSI.sub("", colored) == plain


def test_the_client_reads_the_group_the_pivot_and_the_errors_direction() -> None:
    execution = Execution.from_json(past_the_pivot())
    assert [(s.name, s.group, s.pivot) for s in execution.steps] == [
        ("reserve", None, False),
        ("charge", GROUP, False),
        ("book_courier", GROUP, False),
        ("ship", None, True),
        ("confirm", None, False),
    ]
    assert execution.error is not None and execution.error.direction == "action"
    assert str(execution.error) == f"confirm: {GAVE_UP}"  # the direction is a field, not part of the text
    # An older server's answer has none of them: a straight line, and no direction.
    older = Execution.from_json(failed_execution())
    assert all(s.group is None and s.pivot is False for s in older.steps)
    assert older.error is not None and older.error.direction is None
