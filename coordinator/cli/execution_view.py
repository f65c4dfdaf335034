"""`saga get`: an execution as a person diagnoses it, as plain text (ANSI colours optional).

    trip v1 · execution 3e556cef-… · failed · created 2026-11-27 05:40:44.123Z · trace 4bf9…
    error: a: compensation of step 'a' failed after 2 attempt(s): HTTP 500: psp_down: PSP unavailable

    step  status                                  attempts  undo attempts  last call
    a     compensation_failed (still in effect)          1              2  ↩ POST http://…/a/undo -> 500
          compensation attempt 2: HTTP 500: psp_down: PSP unavailable
          answer: 201 {"charge_id": "ch_1"}
    …
    needs an operator: …

Each step says whether its effect is still in place, its last call and answer, its error, the
forward answer (what a later step or an operator reads from it) and an operator's resolution;
`full` adds each step's last request and response whole. A pure function of its arguments: the
present moment is passed in, so the count-down to the next attempt is right when it is drawn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from coordinator.cli.exchange_view import call_line, compact_json, exchange_lines
from coordinator.cli.moments import when
from coordinator.cli.next_steps import next_commands
from coordinator.cli.shape import GUTTER_WIDTH, group_heading
from coordinator.cli.symbols import (
    BOLD,
    GROUP_MEMBER,
    GROUP_OPENING,
    PIVOT_MARK,
    WARNING,
    Look,
    arrow_of,
    paint,
    status_look,
)
from coordinator.cli.trouble import cut_middle
from coordinator.cli.waiting import waiting_for
from coordinator.client.models import Execution, ExecutionStatus, Step, Wait
from coordinator.core.state import Direction, StepStatus

__all__ = ["render_execution"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_COLUMNS = ("step", "status", "attempts", "undo attempts", "last call")
_RIGHT = frozenset({"attempts", "undo attempts"})
_ANSWER_WIDTH = 120
"""The forward answer and the output past this many characters are cut in the middle (`--full`: whole)."""
_ERROR_SHOWN = frozenset(
    {StepStatus.RUNNING, StepStatus.FAILED, StepStatus.COMPENSATING, StepStatus.COMPENSATION_FAILED}
)
"""Step statuses whose last error is news; a step that succeeded or was undone after retries is fine."""


def render_execution(execution: Execution, *, now: datetime | None, full: bool = False, color: bool = False) -> str:
    """The execution as text: a header, what is wrong or what came out, the steps, and the hint."""
    return "\n".join(_View(execution, now, full, color).lines())


class _View:
    def __init__(self, execution: Execution, now: datetime | None, full: bool, color: bool) -> None:
        self.execution = execution
        self.now = now
        self.full = full
        self.color = color

    def lines(self) -> list[str]:
        ex = self.execution
        lines = [self._header(), *self._outcome()]
        lines += ["", *self._steps()]
        stuck = [s.name for s in ex.steps if s.status == StepStatus.COMPENSATION_FAILED]
        waiting = ex.next_attempt.direction if ex.next_attempt else None
        forward = ex.error.step if ex.error is not None and ex.error.direction == Direction.ACTION else None
        pivot = next((s.name for s in ex.steps if s.pivot), None)
        hint = next_commands(ex.id, ex.status, stuck, waiting, failed_forward=forward, pivot=pivot)
        if hint:
            lines += ["", *(self._paint(line, status_look(ex.status).emphasised()) for line in hint)]
        return lines

    def _header(self) -> str:
        ex = self.execution
        parts = [
            self._paint(f"{ex.saga} v{ex.version}", BOLD),
            f"execution {ex.id}",
            *([f"key {ex.key}"] if ex.key else []),
            self._paint(str(ex.status), status_look(ex.status).emphasised()),
            *([f"needs attention ({ex.attention})"] if ex.attention and ex.attention != str(ex.status) else []),
            f"created {when(ex.created_at)}",
        ]
        if ex.trace_id:
            parts.append(f"trace {ex.trace_id}")
        return " · ".join(parts)

    def _outcome(self) -> list[str]:
        """The error, the output of a completed execution, and the retry it waits for."""
        ex = self.execution
        lines: list[str] = []
        if ex.error is not None:
            lines.append(self._paint(f"error: {ex.error}", status_look(ex.status)))
        if ex.status is ExecutionStatus.COMPLETED:
            if ex.output_error:
                lines.append(self._paint(f"output could not be computed: {ex.output_error}", WARNING))
            else:
                lines += _labelled("output:", ex.output, self.full)
        if ex.next_attempt is not None:
            lines.append(self._paint(waiting_for(ex.next_attempt, self.now), WARNING))
        return lines

    def _steps(self) -> list[str]:
        ex = self.execution
        rows = [
            (self._name(s), self._status(s), str(s.attempts), str(s.compensation_attempts), self._last_call(s))
            for s in ex.steps
        ]
        plain_rows = [(_strip(r[0]), _strip(r[1]), *r[2:]) for r in rows]
        widths = [max(len(c), *(len(r[i]) for r in plain_rows)) for i, c in enumerate(_COLUMNS)]
        header = _row(_COLUMNS, _COLUMNS, widths)
        lines = [self._paint(header, BOLD)]
        indent = " " * (widths[0] + 2)
        previous: str | None = None
        for step, row, plain in zip(ex.steps, rows, plain_rows, strict=True):
            if step.group is not None and step.group != previous:
                lines.append(f"{self._paint(GROUP_OPENING.glyph, GROUP_OPENING.look)} {group_heading(step.group)}")
            previous = step.group
            # A member's details sit inside its group's bracket too, so the group reads as one block.
            gutter = self._gutter() + indent[GUTTER_WIDTH:] if step.group is not None else indent
            lines.append(_row(row, plain, widths))
            lines += [(gutter + detail).rstrip() for detail in self._details(step)]
        return lines

    def _name(self, step: Step) -> str:
        """The step's name; a group member's after its bracket, the pivot's with its mark."""
        name = self._gutter() + step.name if step.group is not None else step.name
        if step.pivot:
            name += " " + self._paint(f"{PIVOT_MARK.glyph} pivot", PIVOT_MARK.look)
        return name

    def _gutter(self) -> str:
        return self._paint(GROUP_MEMBER.glyph, GROUP_MEMBER.look) + " " * (GUTTER_WIDTH - 1)

    def _status(self, step: Step) -> str:
        text = self._paint(step.status, status_look(step.status))
        # On a completed saga every step stands, as it should; elsewhere it is what an operator
        # must know before anything else: which effects are still out there.
        if step.effect_in_place and self.execution.status is not ExecutionStatus.COMPLETED:
            text += " " + self._paint("(still in effect)", WARNING)
        return text

    def _last_call(self, step: Step) -> str:
        last = step.last_attempt
        if last is None:
            return ""
        return f"{arrow_of(last.direction)} {call_line(last.request, last.response)}"

    def _details(self, step: Step) -> list[str]:
        lines: list[str] = []
        if step.waiting is not None:
            lines.append(self._paint(wait_line(step.waiting, self.now), status_look(StepStatus.WAITING)))
        if step.last_error and step.status in _ERROR_SHOWN:
            lines.append(self._paint(step.last_error, status_look(StepStatus.FAILED)))
        if step.response is not None:
            lines += _labelled(f"answer: {step.response.get('status')}", step.response.get("body"), self.full)
        if step.resolution is not None:
            by = f" by {step.resolution.actor}" if step.resolution.actor else ""
            at = f" at {when(step.resolution.at)}" if step.resolution.at else ""
            lines.append(self._paint(f"undone by hand{by}{at}: {step.resolution.note}", WARNING))
        if self.full and step.last_attempt is not None:
            last = step.last_attempt
            lines.append(f"last attempt: {arrow_of(last.direction)} {last.direction} attempt {last.attempt}")
            lines += ["  " + line for line in exchange_lines(last.request, last.response)]
        return lines

    def _paint(self, text: str, look: Look) -> str:
        return paint(text, look, color=self.color)


def wait_line(wait: Wait, now: datetime | None) -> str:
    """`waiting for the callback of attempt 2 for 3m12s; times out in 11m48s (heartbeat due in 48s)`."""
    what = "compensation callback" if wait.direction == "compensation" else "callback"
    text = f"waiting for the {what} of attempt {wait.attempt}"
    if now is None:
        return text + (f" since {when(wait.since)}" if wait.since else "")
    if wait.since is not None:
        text += f" for {_span(now, wait.since)}"
    if wait.timeout_at is not None:
        text += f"; times out in {_span(wait.timeout_at, now)}"
    if wait.next_deadline_at is not None and wait.timeout_at is not None and wait.next_deadline_at < wait.timeout_at:
        text += f" (heartbeat due in {_span(wait.next_deadline_at, now)})"
    return text


def _span(later: datetime, earlier: datetime) -> str:
    seconds = max(0, int((later - earlier).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _labelled(label: str, value: Any, full: bool) -> list[str]:
    """`label {"a": 1}` on one line; in full, a value too long for one line is pretty-printed under it."""
    one_line = compact_json(value, 10**9)
    if len(one_line) <= _ANSWER_WIDTH or not full:
        return [f"{label} {cut_middle(one_line, _ANSWER_WIDTH)}"]
    return [label, *("  " + line for line in json.dumps(value, indent=2, ensure_ascii=False).splitlines())]


def _row(cells: Sequence[str], plain: Sequence[str], widths: Sequence[int]) -> str:
    """One line of aligned columns; `plain` is `cells` without colours, for measuring."""
    out = []
    for column, cell, bare, width in zip(_COLUMNS, cells, plain, widths, strict=True):
        pad = " " * (width - len(bare))
        out.append(pad + cell if column in _RIGHT else cell + pad)
    return "  ".join(out).rstrip()


def _strip(text: str) -> str:
    return _ANSI.sub("", text)
