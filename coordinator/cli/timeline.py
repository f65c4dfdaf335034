"""Turn an execution and its history (the API's JSON) into a timeline a person reads in a minute.

    order-checkout v1 · execution 0b9e6c51 · compensated · 0.151s · trace 4bf92f3577b34da6a3ce929d0e0e4736
       +0.000s  ▶ started
       +0.002s  → reserve  attempt 1  201    12 ms  ok
       +0.015s  → charge   attempt 1  503     4 ms  failed · retry in 120 ms
       +0.140s  → charge   attempt 2  402     5 ms  failed: HTTP 402: card declined
       +0.146s  ⟲ rollback: charge failed: attempt 2: HTTP 402: card declined
       +0.147s  ↩ reserve  attempt 1  200     3 ms  undone
       +0.151s  ■ compensated
    compensated: charge failed (HTTP 402: card declined); undone: reserve

`→` is a forward call, `↩` a compensation; each attempt is one line, placed at the time it was sent,
with the answer, how long it took, and the wait before the next attempt if one was scheduled.

A pure function of its arguments (no clock, no I/O), so the CLI, the demo and the tests share it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coordinator.cli.moments import duration_text, epoch_ms
from coordinator.cli.next_steps import next_commands
from coordinator.cli.symbols import BOLD, DIRECTION_ARROWS, EVENT_MARKS, FAINT, WARNING, Look, paint, status_look
from coordinator.cli.waiting import waiting_for
from coordinator.client.models import NextAttempt
from coordinator.core.history import HistoryEventType
from coordinator.core.state import Direction, ExecutionStatus, StepStatus

__all__ = ["render_timeline"]

_ATTEMPT_PREFIX = re.compile(r"^(compensation )?attempt \d+: ")


def render_timeline(
    execution: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    *,
    color: bool = False,
    now: datetime | None = None,
) -> str:
    """The execution as text: a header, one line per meaningful event, and a one-line summary
    (followed by what the operator may do next, when something is theirs to do).

    Args:
        execution: `GET /v1/executions/{id}`.
        events: the `items` of `GET /v1/executions/{id}/events` (all pages, any order).
        color: add ANSI colours, for a terminal.
        now: the present moment, for an execution still going: how long it has run, and the
            count-down to the retry it waits for. Without it, the last recorded moment is used.
    """
    return _Timeline(execution, events, color, now).render()


@dataclass(slots=True, eq=False)
class _Attempt:
    """One attempt, assembled from its `attempt_started` and the outcome that followed."""

    step: str
    compensation: bool
    number: int | None
    at: float | None
    resent: bool = False
    outcome: str | None = None  # "ok" | "failed" | None while no outcome is recorded
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    retry_in_ms: float | None = None
    lost: bool = False  # the coordinator restarted before recording the outcome


class _Timeline:
    def __init__(
        self, execution: Mapping[str, Any], events: Sequence[Mapping[str, Any]], color: bool, now: datetime | None
    ) -> None:
        self.execution = execution
        self.events = sorted(events, key=lambda e: e.get("seq") or 0)
        self.color = color
        self.now = now
        self.waiting = NextAttempt.from_json(execution.get("next_attempt"))
        first = self.events[0].get("at") if self.events else None
        self.origin = epoch_ms(execution.get("created_at")) or epoch_ms(first)
        names = [str(e["step"]) for e in self.events if e.get("step")]
        names += [str(s.get("name", "")) for s in execution.get("steps") or []]
        self.width = min(max((len(n) for n in names), default=0), 24)
        self.attempt_width = max((len(str(e.get("attempt"))) for e in self.events if e.get("attempt")), default=1)

    # -- the three parts ---------------------------------------------------------------------

    def render(self) -> str:
        return "\n".join([self._header(), *self._lines(), self._summary()])

    def _header(self) -> str:
        ex = self.execution
        status = str(ex.get("status", "?"))
        parts = [
            self._paint(f"{ex.get('saga', '?')} v{ex.get('version', '?')}", BOLD),
            f"execution {ex.get('id', '?')}",
            self._paint(status, status_look(status).emphasised()),
        ]
        if (total := self._total_ms()) is not None:
            parts.append(f"{total / 1000:.3f}s" + ("" if _is_terminal(status) else " so far"))
        if ex.get("trace_id"):
            parts.append(f"trace {ex['trace_id']}")
        return " · ".join(parts)

    def _lines(self) -> list[str]:
        """One line per event worth reading; attempts and their waits are folded into one line."""
        items: list[_Attempt | tuple[float | None, str]] = []
        open_attempts: dict[tuple[str, bool, int | None], _Attempt] = {}
        last_attempt: dict[tuple[str, bool], _Attempt] = {}
        for index, event in enumerate(self.events):
            kind = _type_of(event)
            at = epoch_ms(event.get("at"))
            step = str(event.get("step") or "")
            back = event.get("direction") == Direction.COMPENSATION
            key = (step, back, event.get("attempt"))
            if kind in (HistoryEventType.ATTEMPT_STARTED, HistoryEventType.ATTEMPT_RESENT):
                if (stale := open_attempts.get(key)) is not None:
                    stale.lost = True
                resent = kind is HistoryEventType.ATTEMPT_RESENT
                attempt = _Attempt(step, back, event.get("attempt"), at, resent=resent)
                open_attempts[key] = last_attempt[(step, back)] = attempt
                items.append(attempt)
            elif kind in (HistoryEventType.ATTEMPT_SUCCEEDED, HistoryEventType.ATTEMPT_FAILED):
                answered = open_attempts.pop(key, None)
                if answered is None:  # its start is not in the history we were given
                    answered = _Attempt(step, back, event.get("attempt"), at)
                    items.append(answered)
                answered.outcome = "ok" if kind is HistoryEventType.ATTEMPT_SUCCEEDED else "failed"
                answered.status_code = event.get("status_code")
                answered.error = event.get("error")
                answered.duration_ms = event.get("duration_ms")
                last_attempt[(step, back)] = answered
            elif kind is HistoryEventType.RETRY_SCHEDULED and (step, back) in last_attempt:
                last_attempt[(step, back)].retry_in_ms = event.get("delay_ms") or 0
            elif kind is HistoryEventType.STEP_FAILED and self._next_type(index) is HistoryEventType.ROLLBACK_STARTED:
                continue  # the rollback line that follows says the same
            else:
                items.append((at, self._describe(event)))
        return [self._attempt_line(i) if isinstance(i, _Attempt) else self._line(*i) for i in items]

    def _summary(self) -> str:
        ex = self.execution
        status = str(ex.get("status", "?"))
        steps = [s for s in ex.get("steps") or [] if isinstance(s, Mapping)]
        named = {st: [str(s.get("name")) for s in steps if s.get("status") == st] for st in _STEP_STATUSES}
        retries = sum(1 for e in self.events if _type_of(e) is HistoryEventType.RETRY_SCHEDULED)
        look = status_look(status).emphasised()
        if status == ExecutionStatus.COMPLETED:
            text = f"completed: {' → '.join(named[StepStatus.SUCCEEDED]) or 'no steps'}"
            if retries:
                text += f" ({retries} {'retry' if retries == 1 else 'retries'})"
            return self._paint(text, look)
        if status == ExecutionStatus.RUNNING:
            if self.waiting is not None:
                return self._paint(f"running: {waiting_for(self.waiting, self.now)}", look) + self._hint()
            running = [s for s in steps if s.get("status") == StepStatus.RUNNING]
            now = [f"{s.get('name')} (attempt {s.get('attempts')})" for s in running]
            return self._paint(f"running: {', '.join(now) or 'between steps'}", look)
        # compensating, compensated or failed: say why the rollback began, then what it undid
        undone = list(reversed(named[StepStatus.COMPENSATED]))  # rollback goes newest first
        succeeded = named[StepStatus.SUCCEEDED]
        parts = [f"{status}: {self._rollback_reason()}", f"undone: {', '.join(undone) or 'nothing'}"]
        if status == ExecutionStatus.COMPENSATED and succeeded:
            parts.append(f"kept (no compensation): {', '.join(succeeded)}")
        if status == ExecutionStatus.FAILED:
            stuck = ", ".join(named[StepStatus.COMPENSATION_FAILED]) or str((ex.get("error") or {}).get("step"))
            parts.append(f"could not undo: {stuck}")
            if succeeded:
                parts.append(f"still in effect: {', '.join(succeeded)}")
        summary = self._paint("; ".join(parts), look)
        if status == ExecutionStatus.COMPENSATING and self.waiting is not None:
            summary += "\n" + self._paint(waiting_for(self.waiting, self.now), WARNING)
        return summary + self._hint()

    def _hint(self) -> str:
        """What the operator may do next (the same lines `saga get` prints), each on its own line."""
        ex = self.execution
        steps = [s for s in ex.get("steps") or [] if isinstance(s, Mapping)]
        stuck = [str(s.get("name")) for s in steps if s.get("status") == StepStatus.COMPENSATION_FAILED]
        if not stuck and (ex.get("error") or {}).get("step"):
            stuck = [str(ex["error"]["step"])]
        waiting = self.waiting.direction if self.waiting is not None else None
        lines = next_commands(str(ex.get("id", "?")), str(ex.get("status")), stuck, waiting)
        look = status_look(str(ex.get("status"))).emphasised()
        return "".join("\n" + self._paint(line, look) for line in lines)

    # -- pieces --------------------------------------------------------------------------------

    def _attempt_line(self, a: _Attempt) -> str:
        direction = Direction.COMPENSATION if a.compensation else Direction.ACTION
        arrow = self._paint(DIRECTION_ARROWS[direction].glyph, DIRECTION_ARROWS[direction].look)
        code = str(a.status_code) if a.status_code is not None else "—" if a.outcome else "…"
        took = duration_text(a.duration_ms) if a.duration_ms is not None else ""
        number = f"attempt {a.number if a.number is not None else '?':<{self.attempt_width}}"
        text = f"{arrow} {a.step:<{self.width}}  {number}  {code:>3}  {took:>7}  {self._attempt_note(a)}"
        return self._line(a.at, text)

    def _attempt_note(self, a: _Attempt) -> str:
        prefix = "re-sent after a restart: " if a.resent else ""
        if a.outcome == "ok":
            done = "undone" if a.compensation else "ok"
            if a.compensation and a.status_code in (404, 410):
                done += " (nothing left to undo)"
            return prefix + self._paint(done, EVENT_MARKS[HistoryEventType.ATTEMPT_SUCCEEDED].look)
        if a.outcome == "failed":
            note = "failed"
            if a.error and a.error != f"HTTP {a.status_code}":
                note += f": {a.error}"
            note = self._paint(note, EVENT_MARKS[HistoryEventType.ATTEMPT_FAILED].look)
            if a.retry_in_ms is not None:
                retry = f" · retry in {duration_text(a.retry_in_ms)}"
                note += self._paint(retry, EVENT_MARKS[HistoryEventType.RETRY_SCHEDULED].look)
            return prefix + note
        if a.lost:
            return prefix + self._paint("no answer recorded (the coordinator restarted)", WARNING)
        if _is_terminal(str(self.execution.get("status"))):
            return prefix + "no answer recorded"
        return prefix + self._paint("in flight", status_look(StepStatus.RUNNING))

    def _describe(self, event: Mapping[str, Any]) -> str:
        kind = _type_of(event)
        step, error = event.get("step"), event.get("error")
        match kind:
            case HistoryEventType.EXECUTION_STARTED:
                return self._marked(kind, "started")
            case HistoryEventType.EXECUTION_COMPLETED:
                return self._marked(kind, "completed")
            case HistoryEventType.EXECUTION_COMPENSATED:
                return self._marked(kind, "compensated")
            case HistoryEventType.EXECUTION_FAILED:
                return self._marked(kind, f"failed: {error}")
            case HistoryEventType.ROLLBACK_STARTED:
                reason = f"{step} failed: {error}" if step else str(error)
                return self._marked(kind, f"rollback: {reason}")
            case HistoryEventType.STEP_FAILED:
                return self._marked(kind, f"{step} failed: {error}")
            case HistoryEventType.CANCEL_REQUESTED:
                return self._marked(kind, f"cancel requested: {error or 'by an operator'}")
            case HistoryEventType.RETRY_REQUESTED:
                return self._marked(kind, "operator retry: compensating the remaining steps")
            case HistoryEventType.RETRY_SCHEDULED:
                return self._marked(kind, f"{step}: retry in {duration_text(event.get('delay_ms') or 0)}")
            case HistoryEventType.COMPENSATION_RESOLVED:
                who = f" by {event.get('actor')}" if event.get("actor") else ""
                return self._marked(kind, f"{step}: undone by hand{who}: {event.get('note')}")
        # A type a newer server sent: its name and whatever it carries.
        details = [str(v) for v in (step, event.get("direction"), error) if v]
        return f"· {event.get('type')}" + (f" ({', '.join(details)})" if details else "")

    def _marked(self, kind: HistoryEventType, text: str) -> str:
        """`text` after the event type's glyph, in its colour."""
        mark = EVENT_MARKS[kind]
        return self._paint(f"{mark.glyph} {text}", mark.look)

    def _rollback_reason(self) -> str:
        """Why the rollback began: the first `rollback_started`, else the execution's error."""
        for event in self.events:
            if _type_of(event) is HistoryEventType.ROLLBACK_STARTED:
                return _reason(event.get("step"), event.get("error"))
        error = self.execution.get("error") or {}
        return _reason(error.get("step"), error.get("message"))

    def _line(self, at: float | None, text: str) -> str:
        offset = f"+{(at - self.origin) / 1000:.3f}s" if at is not None and self.origin is not None else "?"
        return f"  {self._paint(f'{offset:>8}', FAINT)}  {text}"

    def _next_type(self, index: int) -> HistoryEventType | None:
        return _type_of(self.events[index + 1]) if index + 1 < len(self.events) else None

    def _total_ms(self) -> float | None:
        if self.now is not None and not _is_terminal(str(self.execution.get("status"))):
            # Still going: it has run until now, not until the last thing it recorded (which,
            # while a retry waits, may be half a minute ago).
            return self.now.timestamp() * 1000 - self.origin if self.origin is not None else None
        ends = [epoch_ms(self.execution.get("updated_at")), *(epoch_ms(e.get("at")) for e in self.events)]
        known = [t for t in ends if t is not None]
        return max(known) - self.origin if known and self.origin is not None else None

    def _paint(self, text: str, look: Look) -> str:
        return paint(text, look, color=self.color)


_STEP_STATUSES = (StepStatus.SUCCEEDED, StepStatus.COMPENSATED, StepStatus.COMPENSATION_FAILED, StepStatus.RUNNING)


def _type_of(event: Mapping[str, Any]) -> HistoryEventType | None:
    """The entry's type; None for a type this version does not know (a newer server's)."""
    try:
        return HistoryEventType(str(event.get("type")))
    except ValueError:
        return None


def _is_terminal(status: str) -> bool:
    """Whether the execution has ended (an unknown status has not, as far as we can tell)."""
    try:
        return ExecutionStatus(status).is_terminal
    except ValueError:
        return False


def _reason(step: Any, message: Any) -> str:
    """`charge failed (HTTP 402: card declined)`, without the attempt number the lines already show."""
    text = _ATTEMPT_PREFIX.sub("", str(message)) if message else "unknown reason"
    return f"{step} failed ({text})" if step else text
