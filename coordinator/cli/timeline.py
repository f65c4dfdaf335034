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
The members of a parallel group, whose calls run side by side, are held together by a bracket:

       +0.004s  ┌ pay_and_book (parallel)
       +0.004s  │ → charge        attempt 1  201     2 ms  ok
       +0.004s  │ → book_courier  attempt 1  201     1 ms  ok
       +0.010s  → ship            attempt 1  201     1 ms  ok
       +0.014s  ── point of no return: ship succeeded ──

and once the pivot succeeded a rule says so: from there on the saga only goes forward.

A pure function of its arguments (no clock, no I/O), so the CLI, the demo and the tests share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coordinator.cli.moments import duration_text, epoch_ms
from coordinator.cli.shape import GUTTER_WIDTH, SagaShape, group_heading, pivot_line
from coordinator.cli.symbols import (
    BOLD,
    DIRECTION_ARROWS,
    EVENT_MARKS,
    FAINT,
    GROUP_MEMBER,
    GROUP_OPENING,
    PIVOT_LINE,
    WARNING,
    Look,
    paint,
    status_look,
)
from coordinator.cli.timeline_summary import entry_type, has_ended, render_summary
from coordinator.core.history import HistoryEventType
from coordinator.core.state import Direction, StepStatus

__all__ = ["render_timeline"]


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
    waiting_since: float | None = None  # an asynchronous attempt answered 202 at this moment
    wait_timeout_ms: float | None = None
    callback: str | None = None  # what the participant reported on its callback URL
    heartbeats: int = 0


@dataclass(frozen=True, slots=True)
class _Note:
    """One line that is not an attempt; `step` when it belongs among a group member's lines."""

    at: float | None
    text: str
    step: str | None = None


class _Timeline:
    def __init__(
        self, execution: Mapping[str, Any], events: Sequence[Mapping[str, Any]], color: bool, now: datetime | None
    ) -> None:
        self.execution = execution
        self.events = sorted(events, key=lambda e: e.get("seq") or 0)
        self.color = color
        self.now = now
        first = self.events[0].get("at") if self.events else None
        self.origin = epoch_ms(execution.get("created_at")) or epoch_ms(first)
        steps = [s for s in execution.get("steps") or [] if isinstance(s, Mapping)]
        self.shape = SagaShape.of_steps(steps)
        names = [str(e["step"]) for e in self.events if e.get("step")]
        names += [str(s.get("name", "")) for s in steps]
        self.width = min(max((self.shape.name_width(n) for n in names), default=0), 24)
        self.attempt_width = max((len(str(e.get("attempt"))) for e in self.events if e.get("attempt")), default=1)

    # -- the three parts ---------------------------------------------------------------------

    def render(self) -> str:
        summary = render_summary(self.execution, self.events, shape=self.shape, now=self.now, color=self.color)
        return "\n".join([self._header(), *self._lines(), summary])

    def _header(self) -> str:
        ex = self.execution
        status = str(ex.get("status", "?"))
        parts = [
            self._paint(f"{ex.get('saga', '?')} v{ex.get('version', '?')}", BOLD),
            f"execution {ex.get('id', '?')}",
            self._paint(status, status_look(status).emphasised()),
        ]
        if (total := self._total_ms()) is not None:
            parts.append(f"{total / 1000:.3f}s" + ("" if has_ended(status) else " so far"))
        if ex.get("trace_id"):
            parts.append(f"trace {ex['trace_id']}")
        return " · ".join(parts)

    def _lines(self) -> list[str]:
        """One line per event worth reading; attempts and their waits are folded into one line."""
        items: list[_Attempt | _Note] = []
        open_attempts: dict[tuple[str, bool, int | None], _Attempt] = {}
        last_attempt: dict[tuple[str, bool], _Attempt] = {}
        past_pivot = False
        for index, event in enumerate(self.events):
            kind = entry_type(event)
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
                if answered.outcome == "ok" and not back and step == self.shape.pivot and not past_pivot:
                    past_pivot = True
                    items.append(_Note(at, self._paint(pivot_line(step), PIVOT_LINE.look)))
            elif kind is HistoryEventType.ATTEMPT_WAITING and key in open_attempts:
                waiting = open_attempts[key]
                waiting.waiting_since, waiting.wait_timeout_ms = at, event.get("delay_ms")
                waiting.status_code = event.get("status_code")
            elif kind is HistoryEventType.HEARTBEAT_RECEIVED and key in open_attempts:
                open_attempts[key].heartbeats += 1
            elif kind is HistoryEventType.CALLBACK_RECEIVED and key in open_attempts:
                open_attempts[key].callback = str(event.get("outcome") or "")
            elif kind is HistoryEventType.RETRY_SCHEDULED and (step, back) in last_attempt:
                last_attempt[(step, back)].retry_in_ms = event.get("delay_ms") or 0
            elif kind is HistoryEventType.STEP_FAILED and self._rollback_follows(index):
                continue  # the rollback line that follows says the same
            else:
                member = step if kind in _MEMBER_NOTES else None
                items.append(_Note(at, self._describe(event, index), member))
        return self._drawn(items)

    def _drawn(self, items: Sequence[_Attempt | _Note]) -> list[str]:
        """The lines; a group's members are held together by a bracket that opens with its name."""
        lines: list[str] = []
        drawing: str | None = None  # the group whose bracket the previous line was in
        for item in items:
            group = self.shape.group_of(item.step)
            if group is not None and group != drawing:
                opening = self._paint(GROUP_OPENING.glyph, GROUP_OPENING.look)
                lines.append(self._line(item.at, f"{opening} {group_heading(group)}"))
            drawing = group
            gutter = self._paint(GROUP_MEMBER.glyph, GROUP_MEMBER.look) + " " if group is not None else ""
            text = self._attempt_text(item, gutter != "") if isinstance(item, _Attempt) else item.text
            lines.append(self._line(item.at, gutter + text))
        return lines

    # -- pieces --------------------------------------------------------------------------------

    def _attempt_text(self, a: _Attempt, in_group: bool) -> str:
        direction = Direction.COMPENSATION if a.compensation else Direction.ACTION
        arrow = self._paint(DIRECTION_ARROWS[direction].glyph, DIRECTION_ARROWS[direction].look)
        code = str(a.status_code) if a.status_code is not None else "—" if a.outcome else "…"
        took = duration_text(a.duration_ms) if a.duration_ms is not None else ""
        number = f"attempt {a.number if a.number is not None else '?':<{self.attempt_width}}"
        width = self.width - (GUTTER_WIDTH if in_group else 0)  # the gutter takes the name's room
        return f"{arrow} {a.step:<{width}}  {number}  {code:>3}  {took:>7}  {self._attempt_note(a)}"

    def _attempt_note(self, a: _Attempt) -> str:
        prefix = "re-sent after a restart: " if a.resent else ""
        if a.callback is not None:
            prefix += f"called back ({a.callback}"
            prefix += f", {a.heartbeats} heartbeat(s)): " if a.heartbeats else "): "
        elif a.waiting_since is not None and a.outcome is not None:
            prefix += "no callback: " if a.outcome == "failed" else ""
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
        if has_ended(str(self.execution.get("status"))):
            return prefix + "no answer recorded"
        if a.waiting_since is not None:
            return prefix + self._paint(self._waiting_text(a), status_look(StepStatus.WAITING))
        return prefix + self._paint("in flight", status_look(StepStatus.RUNNING))

    def _waiting_text(self, a: _Attempt) -> str:
        """`waiting for its callback for 42s, times out in 14m18s` (counted from `now` when given)."""
        assert a.waiting_since is not None
        text = "waiting for its callback"
        now = self.now.timestamp() * 1000 if self.now is not None else None
        if now is not None:
            text += f" for {duration_text(max(0.0, now - a.waiting_since))}"
            if a.wait_timeout_ms is not None:
                left = a.waiting_since + a.wait_timeout_ms - now
                text += f", times out in {duration_text(max(0.0, left))}"
        elif a.wait_timeout_ms is not None:
            text += f" (times out after {duration_text(a.wait_timeout_ms)})"
        if a.heartbeats:
            text += f" · {a.heartbeats} heartbeat(s)"
        return text

    def _describe(self, event: Mapping[str, Any], index: int) -> str:
        kind = entry_type(event)
        step, error = event.get("step"), event.get("error")
        match kind:
            case HistoryEventType.EXECUTION_STARTED:
                return self._marked(kind, "started")
            case HistoryEventType.EXECUTION_COMPLETED:
                return self._marked(kind, "completed")
            case HistoryEventType.EXECUTION_COMPENSATED:
                return self._marked(kind, "compensated")
            case HistoryEventType.EXECUTION_FAILED if event.get("direction") == Direction.ACTION and (
                step != self.shape.pivot
            ):
                return self._marked(kind, "failed going forward: nothing is rolled back past the point of no return")
            case HistoryEventType.EXECUTION_FAILED:
                return self._marked(kind, f"failed: {error}")
            case HistoryEventType.ROLLBACK_STARTED:
                reason = f"{step} failed: {error}" if step else str(error)
                return self._marked(kind, f"rollback: {reason}")
            case HistoryEventType.STEP_FAILED:
                return self._marked(kind, f"{step} failed: {error}")
            case HistoryEventType.CANCEL_REQUESTED:
                return self._marked(kind, f"cancel requested: {error or 'by an operator'}")
            case HistoryEventType.RETRY_REQUESTED if event.get("direction") == Direction.ACTION:
                failed = self._failed_before(index)
                return self._marked(kind, "operator retry: carrying on forward" + (f" from {failed}" if failed else ""))
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

    def _line(self, at: float | None, text: str) -> str:
        offset = f"+{(at - self.origin) / 1000:.3f}s" if at is not None and self.origin is not None else "?"
        return f"  {self._paint(f'{offset:>8}', FAINT)}  {text}"

    def _rollback_follows(self, index: int) -> bool:
        """Whether the `step_failed` at `index` starts the rollback, whose line says the same: the
        next entry is `rollback_started`; for a group's member, the rollback this failure began,
        which may wait for the other members' calls in flight (fail fast). A member stopped
        because a sibling failed keeps its line: it says why that member did not finish."""
        step = self.events[index].get("step")
        member = self.shape.group_of(str(step)) is not None
        for event in self.events[index + 1 :]:
            kind = entry_type(event)
            if kind is HistoryEventType.ROLLBACK_STARTED:
                return event.get("step") == step if member else event is self.events[index + 1]
            if kind not in _WHILE_A_GROUP_SETTLES:
                return False
        return False

    def _failed_before(self, index: int) -> str:
        """The steps that failed going forward since the previous retry, in order: where a forward
        retry at `index` carries on from."""
        failed: list[str] = []
        for event in reversed(self.events[:index]):
            kind = entry_type(event)
            if kind is HistoryEventType.RETRY_REQUESTED:
                break
            if kind is HistoryEventType.STEP_FAILED and event.get("step") and event["step"] not in failed:
                failed.insert(0, str(event["step"]))
        return ", ".join(failed)

    def _total_ms(self) -> float | None:
        if self.now is not None and not has_ended(str(self.execution.get("status"))):
            # Still going: it has run until now, not until the last thing it recorded (which,
            # while a retry waits, may be half a minute ago).
            return self.now.timestamp() * 1000 - self.origin if self.origin is not None else None
        ends = [epoch_ms(self.execution.get("updated_at")), *(epoch_ms(e.get("at")) for e in self.events)]
        known = [t for t in ends if t is not None]
        return max(known) - self.origin if known and self.origin is not None else None

    def _paint(self, text: str, look: Look) -> str:
        return paint(text, look, color=self.color)


_MEMBER_NOTES = frozenset({HistoryEventType.STEP_FAILED, HistoryEventType.RETRY_SCHEDULED})
"""Lines about one step that, for a group's member, sit among the member's lines."""
_WHILE_A_GROUP_SETTLES = frozenset(
    {
        HistoryEventType.ATTEMPT_STARTED,
        HistoryEventType.ATTEMPT_RESENT,
        HistoryEventType.ATTEMPT_SUCCEEDED,
        HistoryEventType.ATTEMPT_FAILED,
        HistoryEventType.RETRY_SCHEDULED,
        HistoryEventType.STEP_FAILED,
    }
)
"""What may come between a member's failure and the rollback it starts (fail fast)."""
