"""The outcome of one HTTP attempt, as a value: participant failures are not exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class OutcomeKind(StrEnum):
    """How the executor classified one attempt."""

    SUCCESS = "success"
    """The status is in the step's `success` patterns."""
    RETRYABLE = "retryable"
    """The status or error is in `retry_on`: another attempt may succeed."""
    FATAL = "fatal"
    """Anything else: the participant refused for good."""
    INVALID = "invalid"
    """The coordinator refused to send (template error, policy violation): never retried."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseSnapshot:
    """What later templates may read of a response: `steps.<name>.response`."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def as_context(self) -> dict[str, Any]:
        """The JSON shape exposed to templates."""
        return {"status": self.status, "headers": dict(self.headers), "body": self.body}


@dataclass(frozen=True, slots=True, kw_only=True)
class StepOutcome:
    """One attempt's result.

    Attributes:
        kind: the classification.
        effect_unknown: the request may have reached the participant without us learning the
            result (a timeout or a connection broken after sending). Such a step is compensated
            on rollback as if it took effect.
        status_code: the HTTP status, if a response arrived.
        error: a human-readable reason for anything but success.
        retry_after_ms: the participant's `Retry-After`, if it sent one on 429/503.
        response: the response, kept for templates, on success.
        duration_ms: how long the attempt took.
    """

    kind: OutcomeKind
    effect_unknown: bool = False
    status_code: int | None = None
    error: str | None = None
    retry_after_ms: int | None = None
    response: ResponseSnapshot | None = None
    duration_ms: int | None = None

    @property
    def took_effect_or_may_have(self) -> bool:
        """Whether a rollback must compensate the step this attempt belongs to."""
        return self.kind is OutcomeKind.SUCCESS or self.effect_unknown

    @property
    def label(self) -> str:
        """The outcome for metrics and history: the kind, or `unknown` when the effect may have happened."""
        if self.effect_unknown and self.kind is not OutcomeKind.SUCCESS:
            return "unknown"
        return self.kind.value

    def describe(self) -> str:
        """A one-line reason for an operator."""
        if self.error:
            return self.error
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return self.kind.value
