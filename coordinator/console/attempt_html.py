"""The attempts of one step on the execution page, written as HTML text here rather than in Jinja.

A long execution has thousands of attempts (the bench's: 1,800 of 100 steps), each a dozen values
on the page. Jinja escapes every `{{ }}` through markupsafe, which builds a `Markup` object per
value: with 27,000 of them, that was most of the time of drawing the page (measured: ~170 of 230 ms
of CPU). Here each value is escaped by `html.escape` (C, returns a plain string) and the step's
attempts become one `Markup`. Every value that came from a participant or a saga's input (error,
URL, headers, bodies) goes through `_e`; the rest are our own words and numbers.
"""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

from coordinator.console.attempts import Attempt
from coordinator.console.formatting import duration, excerpt, moment
from coordinator.console.runs import Run, step_page

ERROR_CHARS = 160
"""The error shown in an attempt's one-line summary (the history has the whole of it)."""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def truncate(text: str, length: int, end: str = "...", leeway: int = 5) -> str:
    """Jinja's `truncate` filter (words kept whole), so the page reads as it did when Jinja wrote it."""
    if len(text) <= length + leeway:
        return text
    return text[: length - len(end)].rsplit(" ", 1)[0] + end


def attempts_html(
    attempts: list[Attempt], *, step: str, execution_id: str, with_exchange: set[int], summarise: bool = False
) -> Markup:
    """Every attempt of `step`, oldest first, each a `<details>` (its exchange when in `with_exchange`).

    With `summarise` (a long execution, see runs.py), the earlier attempts of each direction are
    one line that says what they were and links to the step's page, which lists each of them.
    """
    if not attempts:
        return Markup('<p class="faint">Not started.</p>\n')
    parts: list[str] = []
    step_e = _e(step)
    numbered = list(enumerate(attempts, start=1))
    if summarise:
        return Markup(_summarised(numbered, step, step_e, execution_id, with_exchange))  # noqa: S704 - escaped by `_e`
    if any(id(attempt) not in with_exchange for attempt in attempts):
        parts.append(_elsewhere(execution_id))
    for index, attempt in numbered:
        parts.append(_attempt(attempt, index, step_e, id(attempt) in with_exchange))
    return Markup("".join(parts))  # noqa: S704 - every value above was escaped by `_e`


def _summarised(
    numbered: list[tuple[int, Attempt]], step: str, step_e: str, execution_id: str, with_exchange: set[int]
) -> str:
    """Per direction: its earlier attempts as one line (a run), then its latest attempt (in full
    when its exchange is shown)."""
    parts: list[str] = []
    href = _e(step_page(execution_id, step))
    linked = False
    for direction in dict.fromkeys(attempt.direction for _, attempt in numbered):
        lane = [(index, attempt) for index, attempt in numbered if attempt.direction is direction]
        *earlier, (index, last) = lane
        if earlier:
            run = Run(tuple(attempt for _, attempt in earlier))
            undo = run.first.compensation
            parts.append(
                f'<p class="attempt {"undo" if undo else "forward"} brief run">'
                f'<span class="dir">{"↩ undo" if undo else "→"}</span> {_e(run.describe())}'
                f' · <a href="{href}">every attempt, one by one</a></p>\n'
            )
            linked = True
        parts.append(_attempt(last, index, step_e, id(last) in with_exchange))
    if not linked and any(id(attempt) not in with_exchange for _, attempt in numbered):
        parts.append(f'<p class="faint small">Every exchange of this step: <a href="{href}">its own page</a>.</p>\n')
    return "".join(parts)


def _attempt(attempt: Attempt, index: int, step_e: str, exchange: bool) -> str:
    """An attempt whose exchange is shown is a `<details>` that opens on it; an earlier one is one
    line (a long execution lists thousands: a `<details>` each was most of its page's weight)."""
    undo = attempt.compensation
    if attempt.succeeded:
        state, outcome = "ok", "· ok"
    elif attempt.succeeded is False:
        state, outcome = "failed", f"· {_e(attempt.outcome or 'failed')}"
    elif attempt.lost:
        state, outcome = "open", "· no answer recorded (restart)"
    else:
        state, outcome = "open", "· in flight"
    code = "—" if attempt.status_code is None else _e(attempt.status_code)
    number = _e(attempt.number)
    summary = [
        f'<span class="dir">{"↩ undo" if undo else "→"}</span> attempt {number}',
        f' · <span class="code">{code}</span> · {_e(duration(attempt.duration_ms))} {outcome}',
    ]
    if attempt.resent:
        summary.append(" · re-sent")
    if attempt.error:
        summary.append(f' <span class="err">· {_e(truncate(attempt.error, ERROR_CHARS))}</span>')
    if attempt.wait_ms is not None:
        summary.append(f' <span class="faint">· then wait {_e(duration(attempt.wait_ms))}</span>')
    sent = f"sent {_e(moment(attempt.started_ms))}"
    if attempt.ended_ms:
        sent += f" · answered {_e(moment(attempt.ended_ms))}"
    anchor = f"a-{index}-{step_e}-{_e(attempt.direction.value)}-{number}"
    css = f"attempt {'undo' if undo else 'forward'} {state}"
    if not exchange:
        line = "".join(summary)
        return f'<p class="{css} brief" id="{anchor}">{line} <span class="faint small">· {sent}</span></p>\n'
    return (
        f'<details class="{css}" id="{anchor}">\n'
        f"<summary>{''.join(summary)}</summary>\n"
        f'<div class="exchange">\n<p class="faint small">{sent}</p>\n'
        f"{_exchange(attempt)}"
        "</div>\n</details>\n"
    )


def _elsewhere(execution_id: str) -> str:
    return (
        '<p class="faint small">Earlier attempts are one line each: their requests and responses are in the history '
        f"(<code>GET /v1/executions/{_e(execution_id)}/events</code>).</p>\n"
    )


def _exchange(attempt: Attempt) -> str:
    parts: list[str] = []
    request, response = attempt.request, attempt.response
    if request:
        lines = [f"{_e(request.get('method'))} {_e(request.get('url'))}\n"]
        lines += [f"{_e(name)}: {_e(value)}\n" for name, value in (request.get("headers") or {}).items()]
        if request.get("body") is not None:
            lines.append(f"\n{_e(excerpt(request['body']))}")
        parts.append(f'<h4>Request</h4>\n<pre class="payload">{"".join(lines)}</pre>\n')
    else:
        parts.append('<p class="faint">No request recorded (none was sent, or it was not kept).</p>\n')
    if response:
        lines = [f"{_e(response.get('status'))}\n"]
        lines += [f"{_e(name)}: {_e(value)}\n" for name, value in (response.get("headers") or {}).items()]
        if response.get("body") is not None:
            lines.append(f"\n{_e(excerpt(response['body']))}")
        parts.append(f'<h4>Response</h4>\n<pre class="payload">{"".join(lines)}</pre>\n')
    else:
        parts.append('<p class="faint">No response (refused, timed out, or still in flight).</p>\n')
    return "".join(parts)
