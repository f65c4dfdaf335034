"""The attempts of a step as the execution page writes them (in Python, not Jinja): complete and inert."""

from __future__ import annotations

import re

from jinja2 import Environment

from coordinator.console.attempt_html import attempts_html, truncate
from coordinator.console.attempts import Attempt
from coordinator.core.state import Direction

HOSTILE = '<script>alert("x")</script>&"\''


def _hostile_attempt(number: int, direction: Direction = Direction.ACTION) -> Attempt:
    return Attempt(
        step="charge",
        direction=direction,
        number=number,
        started_ms=1_790_000_000_000,
        ended_ms=1_790_000_000_040,
        succeeded=False,
        outcome=HOSTILE,
        status_code=503,
        error=HOSTILE * 3,
        duration_ms=40,
        request={"method": "POST", "url": f"http://pay/{HOSTILE}", "headers": {HOSTILE: HOSTILE}, "body": HOSTILE},
        response={"status": 503, "headers": {"x-why": HOSTILE}, "body": {"error": HOSTILE}},
        wait_ms=250,
    )


def test_every_value_from_a_participant_is_escaped() -> None:
    attempts = [_hostile_attempt(1), _hostile_attempt(2), _hostile_attempt(1, Direction.COMPENSATION)]
    html = str(attempts_html(attempts, step=HOSTILE, execution_id=HOSTILE, with_exchange={id(attempts[1])}))

    assert "<script" not in html and 'alert("x")' not in html
    assert html.count("&lt;script&gt;") > 10
    # Attributes stay attributes: no quote from a value closes one.
    for attribute in re.findall(r'(?:id|class)="([^"]*)"', html):
        assert "<" not in attribute and "'" not in attribute


def test_the_chosen_attempts_are_details_with_their_exchange_the_others_one_line_each() -> None:
    attempts = [_hostile_attempt(1), _hostile_attempt(2), _hostile_attempt(1, Direction.COMPENSATION)]
    html = str(attempts_html(attempts, step="charge", execution_id="ex-1", with_exchange={id(attempts[1])}))

    assert html.count('<details class="attempt forward failed"') == 1
    assert html.count('<p class="attempt forward failed brief"') == 1
    assert html.count('<p class="attempt undo failed brief"') == 1
    assert html.count("<h4>Request</h4>") == html.count("<h4>Response</h4>") == 1
    # One pointer to the history for the step, not one per attempt.
    assert html.count("Earlier attempts are one line each") == 1 and "GET /v1/executions/ex-1/events" in html
    assert 'id="a-2-charge-action-2"' in html and "· then wait 250 ms" in html
    assert 'id="a-1-charge-action-1"' in html and 'id="a-3-charge-compensation-1"' in html
    every = str(attempts_html(attempts, step="charge", execution_id="ex-1", with_exchange={id(a) for a in attempts}))
    assert every.count("<details") == 3 and "Earlier attempts" not in every
    assert str(attempts_html([], step="charge", execution_id="ex-1", with_exchange=set())).count("Not started.") == 1


def test_errors_are_cut_as_jinja_cut_them() -> None:
    jinja = Environment(autoescape=False).from_string("{{ text|truncate(160) }}")
    for text in ["short", "word " * 40, "x" * 170, "a" * 164, "a" * 166, "one two " * 30 + "end"]:
        assert truncate(text, 160) == jinja.render(text=text)
