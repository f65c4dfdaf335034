"""The executions list's filters: read from the URL, checked, and handed to the service in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from coordinator.core.state import ExecutionStatus

PAGE_SIZE = 50
_MAX_TEXT = 200
_TRUE = frozenset({"true", "on", "1", "yes"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionFilter:
    """What the list shows, exactly as the URL says it (so a view can be bookmarked and shared)."""

    saga: str = ""
    status: str = ""
    key: str = ""
    attention: bool = False
    id_prefix: str = ""
    created_after: str = ""
    """As typed (`2026-12-03T09:00`, UTC); `created_after_ms` is what it means."""
    created_before: str = ""
    cursor: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    """Field name -> what is wrong with it, shown beside the field."""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ExecutionFilter:
        """The filter in a list URL's query; each bad field gets a problem instead of an error page."""
        problems: dict[str, str] = {}
        text = {name: (query.get(name) or "").strip() for name in _TEXT_FIELDS}
        for name, value in text.items():
            if len(value) > _MAX_TEXT:
                problems[name] = f"at most {_MAX_TEXT} characters"
        if text["status"] and text["status"] not in _STATUSES:
            problems["status"] = f"one of {', '.join(_STATUSES)}"
        for name in ("created_after", "created_before"):
            if text[name] and _moment_ms(text[name]) is None:
                problems[name] = "a date and time such as 2026-12-03T09:00 (UTC)"
        after, before = _moment_ms(text["created_after"]), _moment_ms(text["created_before"])
        if after is not None and before is not None and after >= before:
            problems["created_before"] = "must be later than 'created after'"
        return cls(
            **text,
            attention=(query.get("attention") or "").strip().lower() in _TRUE,
            cursor=(query.get("cursor") or "").strip(),
            problems=problems,
        )

    @property
    def created_after_ms(self) -> int | None:
        """The lower bound of the creation time, epoch ms."""
        return _moment_ms(self.created_after)

    @property
    def created_before_ms(self) -> int | None:
        """The upper bound of the creation time, epoch ms."""
        return _moment_ms(self.created_before)

    @property
    def status_value(self) -> ExecutionStatus | None:
        """The status filter, when one is set (and valid)."""
        return ExecutionStatus(self.status) if self.status in _STATUSES else None

    def query(self, **changes: Any) -> str:
        """This filter as a query string (no cursor unless given), with `changes` applied."""
        values: dict[str, Any] = {
            "saga": self.saga,
            "status": self.status,
            "key": self.key,
            "attention": "true" if self.attention else "",
            "id_prefix": self.id_prefix,
            "created_after": self.created_after,
            "created_before": self.created_before,
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def any(self) -> bool:
        """Whether any filter is set."""
        return bool(self.query())

    @property
    def bulk_ready(self) -> bool:
        """Whether a bulk action can take this filter as it is: valid, narrowed by saga, status, key
        or attention, and by nothing a bulk action cannot honour (an id prefix, a time range)."""
        narrowed = bool(self.saga or self.status or self.key or self.attention)
        unsupported = bool(self.id_prefix or self.created_after or self.created_before)
        return narrowed and not unsupported and not self.problems

    def bulk_query(self) -> str:
        """The part of this filter a bulk action takes, as a query string."""
        return self.query(id_prefix="", created_after="", created_before="")


def list_arguments(view: ExecutionFilter) -> dict[str, Any]:
    """The keyword arguments of `SagaService.list_executions` for this filter: the one place they meet."""
    return {
        "saga": view.saga or None,
        "status": view.status_value,
        "key": view.key or None,
        "attention": view.attention,
        "id_prefix": view.id_prefix or None,
        "created_after_ms": view.created_after_ms,
        "created_before_ms": view.created_before_ms,
    }


_TEXT_FIELDS = ("saga", "status", "key", "id_prefix", "created_after", "created_before")
_STATUSES = tuple(s.value for s in ExecutionStatus)


def _moment_ms(text: str) -> int | None:
    """`2026-12-03T09:00` (or with seconds, or a date alone), read as UTC unless it names a zone."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
