"""`saga get` and `saga events` screens, whole, from the API's JSON (no server, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from coordinator.cli.events_view import render_events
from coordinator.cli.execution_view import render_execution
from coordinator.cli.trouble import current_trouble, cut_middle
from coordinator.client.models import Event, Execution

T0 = datetime(2026, 11, 27, 5, 40, 44, 123000, tzinfo=UTC)
EID = "3e556cef-7d0e-4c36-9a43-5d1f0c2b7e11"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
URL = "http://127.0.0.1:8199"


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def exchange(direction: str, attempt: int, url: str, status: int | None, body: Any = None) -> dict[str, Any]:
    request = {
        "method": "POST",
        "url": url,
        "headers": {"Content-Type": "application/json", "Authorization": "***"},
        "body": {"order": "o-7"},
    }
    response = None if status is None else {"status": status, "headers": {"content-type": "application/json"},
                                             "body": body}  # fmt: skip
    return {"direction": direction, "attempt": attempt, "request": request, "response": response}


def step(name: str, status: str, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "attempts": 1,
        "compensation_attempts": 0,
        "last_error": None,
        "last_status_code": None,
        "started_at": None,
        "finished_at": None,
        "effect_in_place": False,
        **more,
    }


def failed_execution() -> dict[str, Any]:
    """a's refund keeps failing (after an operator retry: 4 attempts in all), b undone, c refused."""
    message = "compensation of step 'a' failed after 4 attempt(s) in all, 2 since the operator's retry: HTTP 500"
    return {
        "id": EID,
        "saga": "trip",
        "version": 1,
        "status": "failed",
        "input": {"order": "o-7"},
        "steps": [
            step(
                "a",
                "compensation_failed",
                compensation_attempts=4,
                last_error="compensation attempt 4: HTTP 500: psp_down: PSP unavailable",
                last_status_code=500,
                response={"status": 201, "headers": {}, "body": {"charge_id": "ch_1"}},
                last_attempt=exchange("compensation", 4, f"{URL}/a/undo", 500, {"error": {"code": "psp_down"}}),
                effect_in_place=True,
            ),
            step(
                "b",
                "compensated",
                compensation_attempts=1,
                response={"status": 200, "headers": {}, "body": None},
                last_attempt=exchange("compensation", 1, f"{URL}/b/undo", 200),
            ),
            step(
                "c",
                "failed",
                last_error="attempt 1: HTTP 422: to: mailbox does not exist",
                last_status_code=422,
                last_attempt=exchange("action", 1, f"{URL}/c", 422, {"errors": [{"msg": "mailbox does not exist"}]}),
            ),
        ],
        "error": {"step": "a", "message": message},
        "trace_id": TRACE,
        "created_at": iso(0),
        "updated_at": iso(2),
    }


def test_get_shows_what_stands_what_was_said_and_what_to_do() -> None:
    screen = render_execution(Execution.from_json(failed_execution()), now=T0)
    assert screen == "\n".join(
        [
            f"trip v1 · execution {EID} · failed · created 2026-11-27 05:40:44.123Z · trace {TRACE}",
            "error: a: compensation of step 'a' failed after 4 attempt(s) in all, 2 since the operator's retry:"
            " HTTP 500",
            "",
            "step  status                                 attempts  undo attempts  last call",
            f"a     compensation_failed (still in effect)         1              4  ↩ POST {URL}/a/undo -> 500",
            "      compensation attempt 4: HTTP 500: psp_down: PSP unavailable",
            '      answer: 201 {"charge_id": "ch_1"}',
            f"b     compensated                                   1              1  ↩ POST {URL}/b/undo -> 200",
            "      answer: 200 (no body)",
            f"c     failed                                        1              0  → POST {URL}/c -> 422",
            "      attempt 1: HTTP 422: to: mailbox does not exist",
            "",
            "needs an operator: the compensation of a failed; its effect is still in place",
            f"  fix the cause, then:      saga retry {EID}",
            f'  or undo a by hand, then:  saga resolve {EID} --step a --note "what you did"',
        ]
    )


def completed_execution() -> dict[str, Any]:
    """Signed up: the output names the account; the mail's answer was cut at the size limit."""
    cut = {"size_bytes": 250000, "sha256": "ab12", "kept_bytes": 16}
    mailed = {"status": 200, "headers": {}, "body": '{"id": "m-1", "lo', "truncated": cut}
    last = exchange("action", 1, f"{URL}/c", 200)
    last["response"] = {**mailed, "headers": {"content-type": "application/json"}}
    return {
        **failed_execution(),
        "saga": "signup",
        "status": "completed",
        "error": None,
        "steps": [
            step("a", "succeeded", effect_in_place=True, response={"status": 201, "headers": {}, "body": {"id": 9}}),
            step("c", "succeeded", effect_in_place=True, response=mailed, last_attempt=last),
        ],
        "output": {"account": "acc-9", "mailed": True},
    }


def test_get_full_shows_the_output_and_each_last_exchange_whole() -> None:
    screen = render_execution(Execution.from_json(completed_execution()), now=T0, full=True)
    assert screen == "\n".join(
        [
            f"signup v1 · execution {EID} · completed · created 2026-11-27 05:40:44.123Z · trace {TRACE}",
            'output: {"account": "acc-9", "mailed": true}',
            "",
            "step  status     attempts  undo attempts  last call",
            "a     succeeded         1              0",
            '      answer: 201 {"id": 9}',
            f"c     succeeded         1              0  → POST {URL}/c -> 200",
            '      answer: 200 {"id": "m-1", "lo',
            "      last attempt: → action attempt 1",
            "        request:",
            f"          POST {URL}/c",
            "          Content-Type: application/json",
            "          Authorization: ***",
            "",
            "          {",
            '            "order": "o-7"',
            "          }",
            "        response:",
            "          200",
            "          content-type: application/json",
            "",
            '          {"id": "m-1", "lo',
            "          truncated: only the first 16 of 250000 bytes were kept (sha256 of the whole body: ab12)",
        ]
    )


def waiting_execution(direction: str = "action") -> dict[str, Any]:
    ex = failed_execution()
    reason = "attempt 1: HTTP 503: warming up"
    ex.update(status="running", error=None)
    ex["steps"] = [step("a", "succeeded", effect_in_place=True), step("c", "running", last_error=reason)]
    ex["steps"][1]["next_attempt_at"] = iso(30)
    ex["next_attempt"] = {"step": "c", "direction": direction, "attempt": 2, "due_at": iso(30), "reason": reason}
    return ex


def test_get_counts_down_to_the_next_attempt() -> None:
    execution = Execution.from_json(waiting_execution())
    screens = [render_execution(execution, now=T0 + timedelta(seconds=s)) for s in (3, 29.7, 95)]
    assert screens == [
        "\n".join(
            [
                f"trip v1 · execution {EID} · running · created 2026-11-27 05:40:44.123Z · trace {TRACE}",
                f"waiting for attempt 2 of c, {due}; attempt 1: HTTP 503: warming up",
                "",
                "step  status                       attempts  undo attempts  last call",
                "a     succeeded (still in effect)         1              0",
                "c     running                             1              0",
                "      attempt 1: HTTP 503: warming up",
                "",
                f"to stop retrying and roll back:  saga cancel {EID}",
            ]
        )
        for due in ("due in 27s", "due now", "due now")
    ]


def test_events_full_shows_every_attempts_exchange() -> None:
    base = {"step": None, "direction": None, "attempt": None, "status_code": None, "error": None,
            "delay_ms": None, "duration_ms": None}  # fmt: skip
    sent = exchange("action", 1, f"{URL}/c", 422, {"errors": [{"msg": "mailbox does not exist"}]})
    rows = [
        {**base, "seq": 1, "at": iso(0), "type": "execution_started"},
        {**base, "seq": 2, "at": iso(0.01), "type": "attempt_failed", "step": "c", "direction": "action",
         "attempt": 1, "status_code": 422, "error": "HTTP 422: mailbox does not exist", "duration_ms": 4,
         "request": sent["request"], "response": sent["response"]},
        {**base, "seq": 3, "at": iso(60), "type": "compensation_resolved", "step": "a",
         "direction": "compensation", "note": "refunded in the PSP dashboard", "actor": "alice"},
    ]  # fmt: skip
    screen = render_events([Event.from_json(r) for r in rows], full=True)
    assert screen == "\n".join(
        [
            "seq  at                        type                   step  attempt  code  took  error",
            "  1  2026-11-27 05:40:44.123Z  execution_started",
            "  2  2026-11-27 05:40:44.133Z  attempt_failed         → c         1   422  4 ms"
            "  HTTP 422: mailbox does not exist",
            "    request:",
            f"      POST {URL}/c",
            "      Content-Type: application/json",
            "      Authorization: ***",
            "",
            "      {",
            '        "order": "o-7"',
            "      }",
            "    response:",
            "      422",
            "      content-type: application/json",
            "",
            "      {",
            '        "errors": [',
            "          {",
            '            "msg": "mailbox does not exist"',
            "          }",
            "        ]",
            "      }",
            "  3  2026-11-27 05:41:44.123Z  compensation_resolved  ↩ a"
            "                        by alice: refunded in the PSP dashboard",
        ]
    )


def test_ls_names_the_trouble_of_now_and_keeps_the_reason_when_cut() -> None:
    compensating = failed_execution()
    compensating["status"] = "compensating"
    compensating["error"] = {"step": "c", "message": "attempt 1: HTTP 422: to: mailbox does not exist"}
    a = compensating["steps"][0]
    a.update(status="compensating", compensation_attempts=1, last_error="compensation attempt 1: HTTP 500: psp_down")
    compensating["next_attempt"] = None
    assert current_trouble(Execution.from_json(compensating)) == "a: compensation attempt 1: HTTP 500: psp_down"
    compensating["next_attempt"] = {"step": "a", "direction": "compensation", "attempt": 2, "due_at": iso(5),
                                    "reason": "compensation attempt 1: HTTP 500: psp_down"}  # fmt: skip
    assert current_trouble(Execution.from_json(compensating)) == "a: compensation attempt 1: HTTP 500: psp_down"
    assert current_trouble(Execution.from_json(failed_execution())) == f"a: {failed_execution()['error']['message']}"

    error = "charge: compensation of step 'charge' failed after 10 attempt(s): HTTP 500: refund processor unavailable"
    assert cut_middle(error, 60) == "charge: compensatio…: HTTP 500: refund processor unavailable"
    assert cut_middle("short", 60) == "short"
