"""`saga ls`: executions as aligned columns, newest first, each with the trouble of now (last, so a
narrow terminal folds only that column, never the id or the status)."""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.cli.moments import when
from coordinator.cli.symbols import BOLD, paint, status_look
from coordinator.cli.trouble import current_trouble, cut_middle
from coordinator.client.models import Execution

__all__ = ["TROUBLE_WIDTH", "render_executions"]

TROUBLE_WIDTH = 90
"""A longer error is cut in its middle: its start says where, its end says why (`saga get` shows it whole)."""
_COLUMNS = ("id", "saga", "status", "created", "updated", "error")


def render_executions(executions: Sequence[Execution], *, color: bool = False) -> str:
    """The table, header first; empty for no executions. A `key` column appears when one has a key;
    a status that needs attention for a reason it does not say itself gets it (`running (stalled)`)."""
    if not executions:
        return ""
    with_key = any(ex.key for ex in executions)
    columns = _COLUMNS[:2] + (("key",) if with_key else ()) + _COLUMNS[2:]
    rows = [
        (
            ex.id,
            f"{ex.saga} v{ex.version}",
            *((ex.key or "",) if with_key else ()),
            _status(ex),
            when(ex.created_at),
            when(ex.updated_at),
            cut_middle(trouble, TROUBLE_WIDTH) if (trouble := current_trouble(ex)) else "",
        )
        for ex in executions
    ]
    status_at = columns.index("status")
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [paint("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(), BOLD, color=color)]
    for ex, row in zip(executions, rows, strict=True):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        cells[status_at] = paint(cells[status_at], status_look(ex.status), color=color)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _status(ex: Execution) -> str:
    if ex.attention and ex.attention != str(ex.status):
        return f"{ex.status} ({ex.attention})"
    return str(ex.status)
