"""The one line an operator reads first, from the shapes participants answer errors in."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.executor.error_summary import MAX_SUMMARY, summarize_error_body


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ({"errors": [{"field": "to", "msg": "mailbox does not exist"}]}, "to: mailbox does not exist"),
        ({"error": {"code": "bad_key", "message": "invalid API key"}}, "bad_key: invalid API key"),
        ({"type": "about:blank", "title": "Conflict", "detail": "order 42 shipped"}, "order 42 shipped"),
        ({"detail": [{"loc": ["body", "to"], "msg": "field required", "type": "missing"}]},
         "body.to: field required"),
        ({"message": "validation failed", "errors": [{"path": "amount", "message": "must be > 0"}]},
         "validation failed (amount: must be > 0)"),
        ({"errors": [{"source": {"pointer": "/data/to"}, "detail": "is blank"}]}, "/data/to: is blank"),
        ({"errors": ["a", "b", "c", "d", "e"]}, "a; b; c (+2 more)"),
        ({"error": "card_declined"}, "card_declined"),
        ("\n  upstream timeout\nat line 2", "upstream timeout"),
        ({"status": "nope"}, None),
        ({}, None),
        (None, None),
        (42, None),
    ],
)  # fmt: skip
def test_the_reason_is_found_wherever_the_participant_put_it(body: Any, line: str | None) -> None:
    assert summarize_error_body(body) == line


def test_a_long_reason_is_cut_to_one_bounded_line() -> None:
    line = summarize_error_body({"detail": "x" * 1000 + "\n" + "second line"})
    assert line is not None and len(line) == MAX_SUMMARY and line.endswith("…")


def test_nesting_is_bounded() -> None:
    body: Any = {"message": "deep"}
    for _ in range(50):
        body = {"error": body}
    assert summarize_error_body(body) is None
