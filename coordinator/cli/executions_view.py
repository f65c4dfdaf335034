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
    """The table, header first; empty for no executions."""
    if not executions:
        return ""
    rows = [
        (
            ex.id,
            f"{ex.saga} v{ex.version}",
            str(ex.status),
            when(ex.created_at),
            when(ex.updated_at),
            cut_middle(trouble, TROUBLE_WIDTH) if (trouble := current_trouble(ex)) else "",
        )
        for ex in executions
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]
    lines = [paint("  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True)).rstrip(), BOLD, color=color)]
    for ex, row in zip(executions, rows, strict=True):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        cells[2] = paint(cells[2], status_look(ex.status), color=color)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
