"""One readable line out of a participant's error body, for `last_error`, the history and the logs.

Participants nest their reasons in many shapes: RFC 9457 problems (`detail`), `{"error": {"code",
"message"}}`, validation lists (`{"errors": [{"field", "msg"}]}`), plain text. The whole body is
kept with the attempt; this line is what an operator reads first, so it carries the reason and
where it applies (`to: mailbox does not exist`), never Python reprs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

MAX_SUMMARY = 200
"""Characters kept of the line; the body itself is kept with the attempt."""

_MESSAGE_KEYS = ("detail", "message", "msg", "error_description", "description", "reason", "error", "title")
_WHERE_KEYS = ("field", "path", "loc", "pointer", "param", "parameter", "property", "source")
_CODE_KEYS = ("code", "error_code")
_LIST_KEYS = ("errors", "details", "violations", "problems", "issues")
_LISTED = 3
_DEPTH = 4


def summarize_error_body(body: Any) -> str | None:
    """The reason a participant gave, on one line of at most MAX_SUMMARY characters; None if none."""
    line = _summary(body, _DEPTH)
    if not line:
        return None
    line = " ".join(line.split())
    return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - 1] + "…"


def _summary(value: Any, depth: int) -> str | None:
    if depth <= 0 or value is None:
        return None
    if isinstance(value, str):
        return next((line.strip() for line in value.splitlines() if line.strip()), None)
    if isinstance(value, Mapping):
        return _from_mapping(value, depth)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return _from_list(value, depth)
    return None


def _from_mapping(body: Mapping[str, Any], depth: int) -> str | None:
    if depth <= 0:
        return None
    message = _message(body, depth)
    listed = next((_from_list(body[k], depth - 1) for k in _LIST_KEYS if _is_list(body.get(k))), None)
    if message and listed and listed not in message:
        return f"{message} ({listed})"
    if message:
        return message
    return listed


def _message(body: Mapping[str, Any], depth: int) -> str | None:
    """The mapping's own reason, with its code and where it applies when it says them."""
    for key in _MESSAGE_KEYS:
        value = body.get(key)
        text = value.strip() if isinstance(value, str) else None
        if text is None and isinstance(value, Mapping):
            text = _from_mapping(value, depth - 1)  # {"error": {"code": ..., "message": ...}}
        elif text is None and _is_list(value):
            text = _from_list(value, depth - 1)  # FastAPI's {"detail": [{"loc", "msg"}]}
        if text:
            code = _scalar(body, _CODE_KEYS) if isinstance(value, str) else None
            where = _where(body)
            if code and code not in text:
                text = f"{code}: {text}"
            return f"{where}: {text}" if where and where not in text else text
    return None


def _from_list(items: Sequence[Any], depth: int) -> str | None:
    parts = [part for item in items[:_LISTED] if (part := _summary(item, depth - 1))]
    if not parts:
        return None
    more = len(items) - _LISTED
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _where(body: Mapping[str, Any]) -> str | None:
    for key in _WHERE_KEYS:
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str | int) for v in value):
            return ".".join(str(v) for v in value)  # FastAPI's ["body", "to"]
        if isinstance(value, Mapping):  # JSON:API's {"pointer": "/data/to"}
            inner = _scalar(value, ("pointer", "parameter", "field"))
            if inner:
                return inner
    return None


def _scalar(body: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return json.dumps(value)
    return None


def _is_list(value: Any) -> TypeGuard[list[Any]]:
    return isinstance(value, list) and bool(value)
