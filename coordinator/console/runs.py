"""A long execution's earlier attempts, told as one run per lane instead of one by one.

An execution of 100 steps, each retried ten times, has some 1,800 attempts: one bar each put ten
bars in four pixels of the timeline (unreadable), and one line each made the step list thousands of
lines (most of the page's drawing time). Past SUMMARISE_PAST attempts, each lane's earlier failed
attempts are one bar and each lane's earlier attempts one line, which says how many there were, the
codes, errors, durations and waits; every attempt stays one link away, on the step's own page, drawn
one by one. An ordinary execution (40 steps with a few retries) is drawn attempt by attempt as before.
Pure: the page only writes what this says.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from coordinator.console.attempts import Attempt
from coordinator.console.formatting import duration

SUMMARISE_PAST = 500
"""Attempts on a page past which each lane's earlier attempts are told as a run (the bench's long
execution has 1,792; 40 steps retried a few times each, forward and back, stay under it)."""


def summarised(attempts: int) -> bool:
    """Whether a page of this many attempts tells each lane's earlier attempts as a run."""
    return attempts > SUMMARISE_PAST


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive attempts of one lane (one step, one direction), oldest first; at least one."""

    attempts: tuple[Attempt, ...]

    @property
    def first(self) -> Attempt:
        """The oldest attempt of the run."""
        return self.attempts[0]

    @property
    def last(self) -> Attempt:
        """The newest attempt of the run."""
        return self.attempts[-1]

    @property
    def numbers(self) -> str:
        """`attempts 1 to 10` (`attempt 3` alone)."""
        first, last = _number(self.first), _number(self.last)
        return f"attempt {first}" if len(self.attempts) == 1 else f"attempts {first} to {last}"

    @property
    def codes(self) -> str:
        """The status codes, most frequent first: `HTTP 503 x9, no answer x1`."""
        return _counted("no answer" if a.status_code is None else f"HTTP {a.status_code}" for a in self.attempts)

    @property
    def outcomes(self) -> str:
        """`failed x10`, `ok x1, failed x3`, as the attempts' outcomes read on their own."""
        return _counted(_outcome(a) for a in self.attempts)

    @property
    def durations(self) -> str:
        """`took 40 ms each`, or the range `took 12 ms to 1.2 s`."""
        return _spread("took", [a.duration_ms for a in self.attempts if a.duration_ms is not None])

    @property
    def waits(self) -> str:
        """The waits between them: `then waited 250 ms each` (empty when none was scheduled)."""
        found = [a.wait_ms for a in self.attempts if a.wait_ms is not None]
        return _spread("then waited", found) if found else ""

    @property
    def errors(self) -> str:
        """The errors, most frequent first (the same error ten times is said once, x10)."""
        return _counted(a.error for a in self.attempts if a.error)

    def describe(self) -> str:
        """Everything the run says, as one line of text (a bar's title, a list's line)."""
        errors = self.errors
        parts = [
            self.numbers,
            self.codes,
            self.outcomes,
            self.durations,
            self.waits,
            f"error {errors}" if errors else "",
        ]
        return " · ".join(p for p in parts if p)


@functools.lru_cache(maxsize=1024)
def step_page(execution_id: str, step: str) -> str:
    """The address of a step's own page, where each of its attempts is drawn and listed (kept: a long
    page links each step twice, and `quote` was a tenth of drawing it)."""
    return f"/ui/executions/{quote(execution_id, safe='')}/steps/{quote(step, safe='')}"


def runs_of_retries(lane: Sequence[Attempt]) -> list[Attempt | Run]:
    """The lane as drawn on a summarised timeline: each stretch of two or more failed attempts that
    were retried becomes a Run; every other attempt (the last, one that succeeded, was lost or is in
    flight) stays itself."""
    drawn: list[Attempt | Run] = []
    stretch: list[Attempt] = []

    def close() -> None:
        if len(stretch) > 1:
            drawn.append(Run(tuple(stretch)))
        else:
            drawn.extend(stretch)
        stretch.clear()

    for index, attempt in enumerate(lane):
        retried = attempt.succeeded is False and attempt.wait_ms is not None and index < len(lane) - 1
        if retried and (not stretch or _is_next(stretch[-1], attempt)):
            stretch.append(attempt)
            continue
        close()
        if retried:
            stretch.append(attempt)
        else:
            drawn.append(attempt)
    close()
    return drawn


def _is_next(before: Attempt, after: Attempt) -> bool:
    """A stretch stays in one lane, in time order (a re-sent attempt has no start before its first)."""
    return before.started_ms is not None and after.started_ms is not None and before.started_ms <= after.started_ms


def _number(attempt: Attempt) -> str:
    return "?" if attempt.number is None else str(attempt.number)


def _outcome(attempt: Attempt) -> str:
    if attempt.succeeded:
        return "ok"
    if attempt.succeeded is False:
        return attempt.outcome or "failed"
    return "no answer recorded" if attempt.lost else "in flight"


def _counted(values: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for value in values:  # a dict, not a Counter: a long page counts a few thousand short runs
        counts[value] = counts.get(value, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: -item[1])  # stable: first seen first among equals
    return ", ".join(f"{value} x{n}" for value, n in ordered)


def _spread(verb: str, values: list[int]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    if low == high:
        return f"{verb} {duration(low)} each" if len(values) > 1 else f"{verb} {duration(low)}"
    return f"{verb} {duration(low)} to {duration(high)}"
