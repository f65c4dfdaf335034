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


EXHAUSTED = "exhausted"
"""The history's `outcome` of an attempt that would have been retried, but was the last its retry
policy allowed: the retries are spent and the step (or the rollback) gives up here."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TruncatedBody:
    """A response body longer than the limit (`SAGA_MAX_RESPONSE_BYTES`): only its start is kept."""

    size_bytes: int
    """How many bytes the participant sent (at least this many when `sha256` is None)."""
    sha256: str | None
    """Hex digest of the whole body; None when it was too large or too slow to read to its end."""
    kept_bytes: int
    """How many bytes of it are kept (and decoded into `body`)."""

    def as_context(self) -> dict[str, Any]:
        """The JSON shape stored and exposed to templates."""
        return {"size_bytes": self.size_bytes, "sha256": self.sha256, "kept_bytes": self.kept_bytes}

    @classmethod
    def from_context(cls, data: Any) -> TruncatedBody | None:
        """The inverse of `as_context`; None when `data` is not a stored marker."""
        if not isinstance(data, dict):
            return None
        return cls(
            size_bytes=int(data.get("size_bytes", 0)),
            sha256=data.get("sha256"),
            kept_bytes=int(data.get("kept_bytes", 0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestSnapshot:
    """One attempt's request as it was sent: what the participant was told.

    Secrets are already `***` here (the executor redacts before the value leaves it), so a
    snapshot may be stored, served and logged as it is.
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """The body as sent: a JSON value, or text when it was not JSON."""
    truncated: TruncatedBody | None = None
    """Set when the body was cut at the size limit; `body` then holds its start only."""

    def as_context(self) -> dict[str, Any]:
        """The JSON shape stored and served; `truncated` only when the body was cut."""
        context: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body,
        }
        if self.truncated is not None:
            context["truncated"] = self.truncated.as_context()
        return context

    @classmethod
    def from_context(cls, data: dict[str, Any]) -> RequestSnapshot:
        """The inverse of `as_context`, for stores that keep the JSON shape."""
        return cls(
            method=data["method"],
            url=data["url"],
            headers=dict(data.get("headers") or {}),
            body=data.get("body"),
            truncated=TruncatedBody.from_context(data.get("truncated")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseSnapshot:
    """What later templates may read of a response: `steps.<name>.response`."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    truncated: TruncatedBody | None = None
    """Set when the body was cut at the size limit; `body` then holds its start only."""

    def as_context(self) -> dict[str, Any]:
        """The JSON shape exposed to templates (and stored); `truncated` only when the body was cut."""
        context: dict[str, Any] = {"status": self.status, "headers": dict(self.headers), "body": self.body}
        if self.truncated is not None:
            context["truncated"] = self.truncated.as_context()
        return context

    @classmethod
    def from_context(cls, data: dict[str, Any]) -> ResponseSnapshot:
        """The inverse of `as_context`, for stores that keep the JSON shape."""
        return cls(
            status=data["status"],
            headers=dict(data.get("headers") or {}),
            body=data.get("body"),
            truncated=TruncatedBody.from_context(data.get("truncated")),
        )


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
        request: the request as sent (secrets as `***`); None when nothing was sent
            (a template error, a refused target).
        response: the response, when one arrived; on success it is what later templates read.
        duration_ms: how long the attempt took.
    """

    kind: OutcomeKind
    effect_unknown: bool = False
    status_code: int | None = None
    error: str | None = None
    retry_after_ms: int | None = None
    request: RequestSnapshot | None = None
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

    def history_label(self, *, retries_spent: bool) -> str:
        """`label`, or `exhausted` when this attempt would have been retried but was the last allowed.

        Only the machine knows the retry budget, so it says which; the executor's `label` cannot.
        """
        return EXHAUSTED if retries_spent else self.label

    def describe(self) -> str:
        """A one-line reason for an operator."""
        if self.error:
            return self.error
        if self.status_code is not None:
            return f"HTTP {self.status_code}"
        return self.kind.value
