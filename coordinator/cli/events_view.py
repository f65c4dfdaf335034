"""`saga events`: an execution's history as a table, oldest first; with `full`, each attempt's
request and response under its line."""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.cli.exchange_view import exchange_lines
from coordinator.cli.moments import when
from coordinator.cli.symbols import BOLD, arrow_of, event_look, paint
from coordinator.client.models import Event

__all__ = ["render_events"]

_COLUMNS = ("seq", "at", "type", "step", "attempt", "code", "took", "error")
_RIGHT = frozenset({"seq", "attempt", "code", "took"})
_DETAIL_INDENT = "    "


def render_events(events: Sequence[Event], *, full: bool = False, color: bool = False) -> str:
    """The history as aligned columns; the error column last, whole (it is the one worth reading)."""
    rows = [_cells(e) for e in events]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]
    lines = [paint("  ".join(_padded(_COLUMNS, widths)).rstrip(), BOLD, color=color)]
    for event, cells in zip(events, rows, strict=True):
        padded = _padded(cells, widths)
        padded[2] = paint(padded[2], event_look(event.type), color=color)
        lines.append("  ".join(padded).rstrip())
        if full and (event.request is not None or event.response is not None):
            lines += [(_DETAIL_INDENT + text).rstrip() for text in exchange_lines(event.request, event.response)]
    return "\n".join(lines)


def _cells(e: Event) -> tuple[str, ...]:
    note = e.error or ""
    if e.note is not None:  # an operator's resolution: who, and what they said they did
        note = f"{note} · " if note else ""
        note += (f"by {e.actor}: " if e.actor else "") + e.note
    if e.delay_ms is not None:
        note = f"{note} · retry in {e.delay_ms} ms" if note else f"retry in {e.delay_ms} ms"
    return (
        str(e.seq),
        when(e.at),
        str(e.type),
        f"{arrow_of(e.direction)} {e.step}".strip() if e.step else "",
        "" if e.attempt is None else str(e.attempt),
        "" if e.status_code is None else str(e.status_code),
        f"{e.duration_ms} ms" if e.duration_ms is not None else "",
        note,
    )


def _padded(cells: Sequence[str], widths: Sequence[int]) -> list[str]:
    return [
        cell.rjust(width) if column in _RIGHT else cell.ljust(width)
        for column, cell, width in zip(_COLUMNS, cells, widths, strict=True)
    ]
