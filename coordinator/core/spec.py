"""A compiled saga definition: validated, defaults merged, durations in milliseconds."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from coordinator.core.retry import RetryPolicy

_STATUS_CLASS = re.compile(r"^[1-5]xx$")
_STATUS_EXACT = re.compile(r"^[1-5][0-9][0-9]$")


@dataclass(frozen=True, slots=True)
class StatusPattern:
    """An HTTP status pattern: a class such as `5xx` or one exact code such as `404`."""

    text: str

    @staticmethod
    def is_valid(text: str) -> bool:
        """Whether `text` is a pattern this type accepts."""
        return bool(_STATUS_CLASS.match(text) or _STATUS_EXACT.match(text))

    def matches(self, status: int) -> bool:
        """Whether `status` falls under this pattern."""
        if self.text.endswith("xx"):
            return status // 100 == int(self.text[0])
        return status == int(self.text)


def any_matches(patterns: tuple[StatusPattern, ...], status: int) -> bool:
    """Whether any of `patterns` matches `status`."""
    return any(p.matches(status) for p in patterns)


RETRY_ON_TIMEOUT = "timeout"
RETRY_ON_CONNECT = "connect"


@dataclass(frozen=True, slots=True, kw_only=True)
class AsyncSpec:
    """An asynchronous call (SPEC section 7.3): a `202` answer means "working on it, I will call back"."""

    timeout_ms: int
    """How long to wait for the callback after the `202`; then the outcome is unknown."""
    heartbeat_ms: int | None = None
    """When set, a wait without a heartbeat (or the callback) for this long is also an unknown outcome."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSpec:
    """One HTTP call, forward or compensating. Values may hold `{{ }}` templates.

    The URL's scheme, host and port are fixed at registration (`origin`); only `path_template`
    (path and query) is templated.
    """

    method: str
    origin: str
    path_template: str
    headers: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    timeout_ms: int = 5_000
    success: tuple[StatusPattern, ...] = (StatusPattern("2xx"),)
    retry_on_status: tuple[StatusPattern, ...] = ()
    retry_on_timeout: bool = True
    retry_on_connect: bool = True
    async_: AsyncSpec | None = None
    """Set when the participant may answer `202` and report the outcome on its callback URL."""

    @property
    def url_template(self) -> str:
        """The full URL as written, templates included."""
        return self.origin + self.path_template


DEFAULT_ALERT_AFTER_MS = 15 * 60 * 1000
"""`alert_after` when neither the definition nor `SAGA_ALERT_AFTER` says: 15 minutes."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSpec:
    """One saga step: a forward call and the call that undoes it."""

    name: str
    action: CallSpec
    compensation: CallSpec | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    compensation_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=10))
    deadline_ms: int | None = None
    group: str | None = None
    """The parallel group the step is a member of (SPEC section 7.1); None for a step on its own."""
    pivot: bool = False
    """The point of no return (SPEC section 7.2): once it succeeded the saga only goes forward."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SagaSpec:
    """A registered, immutable saga version."""

    name: str
    version: int
    steps: tuple[StepSpec, ...]
    description: str | None = None
    deadline_ms: int | None = None
    input_schema: dict[str, Any] | None = None
    output: Any = None
    """The definition's `output:`: a JSON value whose strings may be `{{ }}` templates over
    `steps` and `execution`; None when the definition declares none."""
    key: str | None = None
    """The definition's `key:`: a template over `input` rendered at start (the business key)."""
    alert_after_ms: int = DEFAULT_ALERT_AFTER_MS
    """An unfinished execution with no new history for this long needs attention (SPEC section 8)."""

    def stages(self) -> tuple[tuple[int, ...], ...]:
        """The step indices in the order they run: a lone step is a stage of one, a group's
        members (consecutive in `steps`, in definition order) one stage together."""
        stages: list[list[int]] = []
        for index, step in enumerate(self.steps):
            if stages and step.group is not None and self.steps[stages[-1][0]].group == step.group:
                stages[-1].append(index)
            else:
                stages.append([index])
        return tuple(tuple(stage) for stage in stages)

    def stage_of(self, index: int) -> tuple[int, ...]:
        """The indices of the stage step `index` runs in (itself alone unless it is a group member)."""
        group = self.steps[index].group
        if group is None:
            return (index,)
        return tuple(i for i, step in enumerate(self.steps) if step.group == group)

    @property
    def pivot_index(self) -> int | None:
        """The position of the pivot step, or None when the saga has none."""
        return next((i for i, step in enumerate(self.steps) if step.pivot), None)
