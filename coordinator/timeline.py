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
from datetime import UTC, datetime
from typing import Any

__all__ = ["render_timeline"]

_FORWARD, _BACK = "→", "↩"
_RESET, _BOLD, _DIM, _RED, _GREEN, _YELLOW, _CYAN = "0", "1", "2", "31", "32", "33", "36"
_STATUS_COLOR = {"completed": _GREEN, "compensated": _YELLOW, "failed": _RED}
_ATTEMPT_PREFIX = re.compile(r"^(compensation )?attempt \d+: ")


def render_timeline(execution: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *, color: bool = False) -> str:
    """The execution as text: a header, one line per meaningful event, and a one-line summary
    (followed, for a `failed` execution, by what the operator does next).

    Args:
        execution: `GET /v1/executions/{id}`.
        events: the `items` of `GET /v1/executions/{id}/events` (all pages, any order).
        color: add ANSI colours, for a terminal.
    """
    return _Timeline(execution, events, color).render()


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
    def __init__(self, execution: Mapping[str, Any], events: Sequence[Mapping[str, Any]], color: bool) -> None:
        self.execution = execution
        self.events = sorted(events, key=lambda e: e.get("seq") or 0)
        self.color = color
        first = self.events[0].get("at") if self.events else None
        self.origin = _ms(execution.get("created_at")) or _ms(first)
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
            self._paint(f"{ex.get('saga', '?')} v{ex.get('version', '?')}", _BOLD),
            f"execution {ex.get('id', '?')}",
            self._paint(status, _STATUS_COLOR.get(status, _CYAN), _BOLD),
        ]
        if (total := self._total_ms()) is not None:
            parts.append(f"{total / 1000:.3f}s" + ("" if status in _STATUS_COLOR else " so far"))
        if ex.get("trace_id"):
            parts.append(f"trace {ex['trace_id']}")
        return " · ".join(parts)

    def _lines(self) -> list[str]:
        """One line per event worth reading; attempts and their waits are folded into one line."""
        items: list[_Attempt | tuple[float | None, str]] = []
        open_attempts: dict[tuple[str, bool, int | None], _Attempt] = {}
        last_attempt: dict[tuple[str, bool], _Attempt] = {}
        for index, event in enumerate(self.events):
            kind = event.get("type")
            at = _ms(event.get("at"))
            step = str(event.get("step") or "")
            back = event.get("direction") == "compensation"
            key = (step, back, event.get("attempt"))
            if kind in ("attempt_started", "attempt_resent"):
                if (stale := open_attempts.get(key)) is not None:
                    stale.lost = True
                attempt = _Attempt(step, back, event.get("attempt"), at, resent=kind == "attempt_resent")
                open_attempts[key] = last_attempt[(step, back)] = attempt
                items.append(attempt)
            elif kind in ("attempt_succeeded", "attempt_failed"):
                answered = open_attempts.pop(key, None)
                if answered is None:  # its start is not in the history we were given
                    answered = _Attempt(step, back, event.get("attempt"), at)
                    items.append(answered)
                answered.outcome = "ok" if kind == "attempt_succeeded" else "failed"
                answered.status_code = event.get("status_code")
                answered.error = event.get("error")
                answered.duration_ms = event.get("duration_ms")
                last_attempt[(step, back)] = answered
            elif kind == "retry_scheduled" and (step, back) in last_attempt:
                last_attempt[(step, back)].retry_in_ms = event.get("delay_ms") or 0
            elif kind == "step_failed" and self._next_type(index) == "rollback_started":
                continue  # the rollback line that follows says the same
            else:
                items.append((at, self._describe(event)))
        return [self._attempt_line(i) if isinstance(i, _Attempt) else self._line(*i) for i in items]

    def _summary(self) -> str:
        ex = self.execution
        status = str(ex.get("status", "?"))
        steps = [s for s in ex.get("steps") or [] if isinstance(s, Mapping)]
        named = {st: [str(s.get("name")) for s in steps if s.get("status") == st] for st in _STEP_STATUSES}
        retries = sum(1 for e in self.events if e.get("type") == "retry_scheduled")
        if status == "completed":
            text = f"completed: {' → '.join(named['succeeded']) or 'no steps'}"
            if retries:
                text += f" ({retries} {'retry' if retries == 1 else 'retries'})"
            return self._paint(text, _GREEN, _BOLD)
        if status == "running":
            now = [f"{s.get('name')} (attempt {s.get('attempts')})" for s in steps if s.get("status") == "running"]
            return self._paint(f"running: {', '.join(now) or 'between steps'}", _CYAN, _BOLD)
        # compensating, compensated or failed: say why the rollback began, then what it undid
        undone = list(reversed(named["compensated"]))  # rollback goes newest first
        parts = [f"{status}: {self._rollback_reason()}", f"undone: {', '.join(undone) or 'nothing'}"]
        if status == "compensated" and named["succeeded"]:
            parts.append(f"kept (no compensation): {', '.join(named['succeeded'])}")
        if status == "failed":
            stuck = ", ".join(named["compensation_failed"]) or str((ex.get("error") or {}).get("step"))
            parts.append(f"could not undo: {stuck}")
            if named["succeeded"]:
                parts.append(f"still in effect: {', '.join(named['succeeded'])}")
        summary = self._paint("; ".join(parts), _STATUS_COLOR.get(status, _CYAN), _BOLD)
        if status == "failed":
            summary += f"\nneeds an operator: fix the cause, then POST /v1/executions/{ex.get('id')}/retry"
        return summary

    # -- pieces --------------------------------------------------------------------------------

    def _attempt_line(self, a: _Attempt) -> str:
        arrow = self._paint(_BACK, _CYAN) if a.compensation else _FORWARD
        code = str(a.status_code) if a.status_code is not None else "—" if a.outcome else "…"
        took = _duration(a.duration_ms) if a.duration_ms is not None else ""
        number = f"attempt {a.number if a.number is not None else '?':<{self.attempt_width}}"
        text = f"{arrow} {a.step:<{self.width}}  {number}  {code:>3}  {took:>7}  {self._attempt_note(a)}"
        return self._line(a.at, text)

    def _attempt_note(self, a: _Attempt) -> str:
        prefix = "re-sent after a restart: " if a.resent else ""
        if a.outcome == "ok":
            done = "undone" if a.compensation else "ok"
            if a.compensation and a.status_code in (404, 410):
                done += " (nothing left to undo)"
            return prefix + self._paint(done, _GREEN)
        if a.outcome == "failed":
            note = "failed"
            if a.error and a.error != f"HTTP {a.status_code}":
                note += f": {a.error}"
            note = self._paint(note, _RED)
            if a.retry_in_ms is not None:
                note += self._paint(f" · retry in {_duration(a.retry_in_ms)}", _YELLOW)
            return prefix + note
        if a.lost:
            return prefix + self._paint("no answer recorded (the coordinator restarted)", _YELLOW)
        if str(self.execution.get("status")) in _STATUS_COLOR:
            return prefix + "no answer recorded"
        return prefix + self._paint("in flight", _CYAN)

    def _describe(self, event: Mapping[str, Any]) -> str:
        kind = str(event.get("type"))
        step, error = event.get("step"), event.get("error")
        match kind:
            case "execution_started":
                return "▶ started"
            case "execution_completed":
                return self._paint("■ completed", _GREEN)
            case "execution_compensated":
                return self._paint("■ compensated", _YELLOW)
            case "execution_failed":
                return self._paint(f"■ failed: {error}", _RED)
            case "rollback_started":
                reason = f"{step} failed: {error}" if step else str(error)
                return self._paint(f"⟲ rollback: {reason}", _YELLOW)
            case "step_failed":
                return self._paint(f"✗ {step} failed: {error}", _RED)
            case "cancel_requested":
                return self._paint(f"⏹ cancel requested: {error or 'by an operator'}", _YELLOW)
            case "retry_requested":
                return self._paint("⟳ operator retry: compensating the remaining steps", _CYAN)
            case "retry_scheduled":
                return self._paint(f"  {step}: retry in {_duration(event.get('delay_ms') or 0)}", _YELLOW)
        details = [str(v) for v in (step, event.get("direction"), error) if v]
        return f"· {kind}" + (f" ({', '.join(details)})" if details else "")

    def _rollback_reason(self) -> str:
        """Why the rollback began: the first `rollback_started`, else the execution's error."""
        for event in self.events:
            if event.get("type") == "rollback_started":
                return _reason(event.get("step"), event.get("error"))
        error = self.execution.get("error") or {}
        return _reason(error.get("step"), error.get("message"))

    def _line(self, at: float | None, text: str) -> str:
        offset = f"+{(at - self.origin) / 1000:.3f}s" if at is not None and self.origin is not None else "?"
        return f"  {self._paint(f'{offset:>8}', _DIM)}  {text}"

    def _next_type(self, index: int) -> Any:
        return self.events[index + 1].get("type") if index + 1 < len(self.events) else None

    def _total_ms(self) -> float | None:
        ends = [_ms(self.execution.get("updated_at")), *(_ms(e.get("at")) for e in self.events)]
        known = [t for t in ends if t is not None]
        return max(known) - self.origin if known and self.origin is not None else None

    def _paint(self, text: str, *codes: str) -> str:
        return f"\x1b[{';'.join(codes)}m{text}\x1b[{_RESET}m" if self.color and codes else text


_STEP_STATUSES = ("succeeded", "compensated", "compensation_failed", "running")


def _reason(step: Any, message: Any) -> str:
    """`charge failed (HTTP 402: card declined)`, without the attempt number the lines already show."""
    text = _ATTEMPT_PREFIX.sub("", str(message)) if message else "unknown reason"
    return f"{step} failed ({text})" if step else text


def _ms(value: Any) -> float | None:
    """Epoch milliseconds from an ISO-8601 string (naive means UTC) or a number already in ms."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def _duration(ms: float) -> str:
    """`12 ms`, `1.5 s`, `2 min 5 s`: short, and in the unit a person expects."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{int(ms // 60_000)} min {ms % 60_000 / 1000:.0f} s"
