"""How the operator commands (`saga get`, `saga ls`, ...) print: rich tables and timelines for
people, plain JSON for scripts (`--json`), problems on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from coordinator.cli.symbols import arrow_of, event_look, status_look
from coordinator.cli.timeline import render_timeline
from coordinator.client import ApiError, Event, Execution, ExecutionStatus, SagaError, SagaRef

__all__ = ["LiveTimeline", "Output", "raw"]

_PIPE_WIDTH = 200
"""Columns when stdout is not a terminal: wide enough that ids and errors are not folded."""


class Output:
    """Where a command's results go: stdout (tables, timelines or JSON) and stderr (problems).

    Args:
        json_mode: print machine-readable JSON only on stdout.
        color: allow colours (they are used only on a terminal, and never with `NO_COLOR` set).
    """

    def __init__(self, *, json_mode: bool, color: bool) -> None:
        self.json_mode = json_mode
        self.console = Console(highlight=False, color_system="auto" if color else None)
        if not self.console.is_terminal:
            self.console.width = _PIPE_WIDTH
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True, color_system="auto" if color else None)

    @property
    def color(self) -> bool:
        """Whether stdout gets ANSI colours."""
        return self.console.is_terminal and self.console.color_system is not None and not self.console.no_color

    # -- machine-readable ----------------------------------------------------------------------

    def json(self, value: Any) -> None:
        """One JSON document (indented) on stdout."""
        sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def json_line(self, value: Any) -> None:
        """One JSON document on one line (a stream of them is NDJSON), flushed at once."""
        sys.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    # -- for people ----------------------------------------------------------------------------

    def line(self, text: str, style: str | None = None) -> None:
        """A line of plain text (never read as markup)."""
        self.console.print(Text(text, style=style or ""), soft_wrap=True)

    def registered(self, source: str, ref: SagaRef) -> None:
        """One registration's result."""
        what = "registered" if ref.created else "unchanged "
        self.line(f"{what} {ref.name} v{ref.version}  ({source})", "green" if ref.created else None)

    def execution(self, execution: Execution) -> None:
        """An execution: a header line, its error, and a table of its steps."""
        self.console.print(_header(execution), soft_wrap=True)
        if execution.error is not None:
            self.line(f"error: {execution.error}", status_look(execution.status).style)
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("step", "status", "attempts", "undo attempts", "last code", "last error"):
            table.add_column(
                column, justify="right" if column in ("attempts", "undo attempts", "last code") else "left"
            )
        for step in execution.steps:
            table.add_row(
                step.name,
                Text(step.status, style=status_look(step.status).style),
                str(step.attempts),
                str(step.compensation_attempts),
                _text(step.last_status_code),
                _text(step.last_error),
            )
        self.console.print(table)
        self.hint(execution)

    def hint(self, execution: Execution) -> None:
        """What an operator does next, when something is theirs to do."""
        if execution.status is ExecutionStatus.FAILED:
            self.line(f"needs an operator: fix the cause, then `saga retry {execution.id}`", "bold red")

    def started(self, execution: Execution, created: bool) -> None:
        """The answer to `saga start` without `--wait`."""
        verb = "started" if created else "already started (same Idempotency-Key)"
        self.line(f"{verb}: {execution.saga} v{execution.version} · execution {execution.id} · {execution.status}")

    def executions(self, executions: Sequence[Execution], more: bool) -> None:
        """A table of executions, newest first."""
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("id", "saga", "status", "created", "updated"):
            table.add_column(column, no_wrap=True)
        table.add_column("error", no_wrap=True, overflow="ellipsis", max_width=72)  # in full: `saga get ID`
        for ex in executions:
            table.add_row(
                ex.id,
                f"{ex.saga} v{ex.version}",
                Text(str(ex.status), style=status_look(ex.status).style),
                _when(ex.created_at),
                _when(ex.updated_at),
                _text(ex.error),
            )
        if executions:
            self.console.print(table)
        noun = "execution" if len(executions) == 1 else "executions"
        self.line(f"{len(executions)} {noun}" + (" (more: raise --limit)" if more else ""), "dim")

    def events(self, events: Iterable[Event]) -> None:
        """A table of history entries, oldest first."""
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("seq", "at", "type", "step", "attempt", "code", "took", "error"):
            right = column in ("seq", "attempt", "code", "took")
            table.add_column(column, justify="right" if right else "left", no_wrap=column != "error")
        for e in events:
            step = f"{arrow_of(e.direction)} {e.step}".strip() if e.step else ""
            took = f"{e.duration_ms} ms" if e.duration_ms is not None else ""
            note = e.error or ""
            if e.delay_ms is not None:
                note = f"{note} · retry in {e.delay_ms} ms" if note else f"retry in {e.delay_ms} ms"
            table.add_row(
                str(e.seq),
                _when(e.at),
                Text(e.type, style=event_look(e.type).style),
                step,
                _text(e.attempt),
                _text(e.status_code),
                took,
                note,
            )
        self.console.print(table)

    def timeline(self, execution: Execution, events: Iterable[Event]) -> None:
        """The execution as a timeline (the same as `saga demo` prints)."""
        self.console.print(self.timeline_text(execution, events), soft_wrap=True)

    def timeline_text(self, execution: Execution, events: Iterable[Event]) -> Text:
        """The timeline as rich text."""
        text = render_timeline(execution.raw, [e.raw for e in events], color=self.color)
        return Text.from_ansi(text) if self.color else Text(text)

    def problem(self, command: str, error: SagaError) -> None:
        """A refusal or failure, on stderr: the code, the detail and every problem with its path."""
        if isinstance(error, ApiError):
            self.errors.print(Text(f"saga {command}: {error.detail or error.title} ({error.code})", style="red"))
            for problem in error.problems:
                self.errors.print(Text(f"  {problem.path}: {problem.message}"))
        else:
            self.errors.print(Text(f"saga {command}: {error}", style="red"))

    def usage(self, command: str, message: str) -> None:
        """A mistake in the command line that argparse could not catch."""
        self.errors.print(Text(f"saga {command}: {message}", style="red"))


class LiveTimeline:
    """A timeline redrawn in place on a terminal; elsewhere printed once, at the end."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self._live: Live | None = None
        self._last: Text | None = None

    def __enter__(self) -> LiveTimeline:
        if self.output.console.is_terminal and not self.output.json_mode:
            self._live = Live(console=self.output.console, auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def show(self, execution: Execution, events: Iterable[Event]) -> None:
        """Draw the timeline as it stands."""
        self._last = self.output.timeline_text(execution, events)
        if self._live is not None:
            self._live.update(self._last, refresh=True)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
        elif self._last is not None:
            self.output.console.print(self._last, soft_wrap=True)


def _header(execution: Execution) -> Text:
    header = Text()
    header.append(f"{execution.saga} v{execution.version}", style="bold")
    header.append(f" · execution {execution.id} · ")
    header.append(str(execution.status), style=status_look(execution.status).style)
    header.append(f" · created {_when(execution.created_at)}")
    if execution.trace_id:
        header.append(f" · trace {execution.trace_id}")
    return header


def _when(moment: datetime | None) -> str:
    """UTC, to the millisecond: what the API and the logs show."""
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: object) -> str:
    return "" if value is None else str(value)


def raw(values: Iterable[Execution | Event]) -> list[Mapping[str, Any]]:
    """The JSON the API sent for each value (what `--json` prints)."""
    return [v.raw for v in values]
