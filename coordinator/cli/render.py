"""How the operator commands (`saga get`, `saga ls`, ...) print: rich tables and timelines for
people, plain JSON for scripts (`--json`), problems on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from coordinator.cli.events_view import render_events
from coordinator.cli.execution_view import render_execution
from coordinator.cli.executions_view import render_executions
from coordinator.cli.timeline import render_timeline
from coordinator.client import ApiError, Event, Execution, SagaError, SagaRef

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

    def execution(self, execution: Execution, *, full: bool = False) -> None:
        """An execution as `saga get` shows it (`coordinator.cli.execution_view`)."""
        self._print(render_execution(execution, now=datetime.now(UTC), full=full, color=self.color))

    def started(self, execution: Execution, created: bool) -> None:
        """The answer to `saga start` without `--wait`."""
        verb = "started" if created else "already started (same Idempotency-Key)"
        self.line(f"{verb}: {execution.saga} v{execution.version} · execution {execution.id} · {execution.status}")

    def executions(self, executions: Sequence[Execution], more: bool) -> None:
        """A table of executions, newest first, each with what is going wrong now."""
        if executions:
            self._print(render_executions(executions, color=self.color))
        noun = "execution" if len(executions) == 1 else "executions"
        self.line(f"{len(executions)} {noun}" + (" (more: raise --limit)" if more else ""), "dim")

    def events(self, events: Sequence[Event], *, full: bool = False) -> None:
        """The history, oldest first; with `full`, each attempt's request and response."""
        self._print(render_events(events, full=full, color=self.color))

    def timeline(self, execution: Execution, events: Iterable[Event]) -> None:
        """The execution as a timeline (the same as `saga demo` prints)."""
        self.console.print(self.timeline_text(execution, events), soft_wrap=True)

    def timeline_text(self, execution: Execution, events: Iterable[Event]) -> Text:
        """The timeline as rich text, as it stands at this moment (a waiting retry counts down)."""
        now = datetime.now(UTC)
        return self._text(render_timeline(execution.raw, [e.raw for e in events], color=self.color, now=now))

    def _text(self, text: str) -> Text:
        return Text.from_ansi(text) if self.color else Text(text)

    def _print(self, text: str) -> None:
        self.console.print(self._text(text), soft_wrap=True)

    def problem(self, command: str, error: SagaError) -> None:
        """A refusal or failure, on stderr: the code, the detail and every problem with its path."""
        if not isinstance(error, ApiError):
            self.errors.print(Text(f"saga {command}: {error}", style="red"))
            return
        # With a list of problems the detail only repeats the first: the title, then each once.
        headline = error.title if error.problems else error.detail or error.title
        self.problems(command, f"{headline} ({error.code})", [(p.path, p.message) for p in error.problems])

    def problems(self, command: str, headline: str, problems: Iterable[tuple[str, str]]) -> None:
        """A headline on stderr, then each problem once: `  steps[0].action.url: …`."""
        self.errors.print(Text(f"saga {command}: {headline}", style="red"))
        for path, message in problems:
            self.errors.print(Text(f"  {path}: {message}"))

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


def raw(values: Iterable[Execution | Event]) -> list[Mapping[str, Any]]:
    """The JSON the API sent for each value (what `--json` prints)."""
    return [v.raw for v in values]
