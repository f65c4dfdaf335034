"""One attempt's request and answer as text: a one-line summary (`POST http://… -> 422`) and, for
`--full`, the whole exchange with headers and bodies (JSON pretty-printed, a cut body said plainly)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from coordinator.cli.trouble import cut_middle

__all__ = ["call_line", "compact_json", "exchange_lines"]

_INDENT = "  "


def call_line(request: Mapping[str, Any] | None, response: Mapping[str, Any] | None) -> str:
    """`POST http://pay:8102/charges -> 402`; `-> no answer` when none came; `(nothing sent)`."""
    if request is None:
        return "(nothing sent)"
    answer = f"{response.get('status')}" if response is not None else "no answer"
    return f"{request.get('method')} {request.get('url')} -> {answer}"


def compact_json(value: Any, width: int) -> str:
    """A JSON value on one line, cut in the middle past `width` characters (`--full` shows it whole);
    `(no body)` for none."""
    if value is None or value == "":
        return "(no body)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return cut_middle(text, width)


def exchange_lines(request: Mapping[str, Any] | None, response: Mapping[str, Any] | None) -> list[str]:
    """The request as sent and the answer, each with its headers and body, for reading in full."""
    lines = ["request:"]
    if request is None:
        lines.append(_INDENT + "nothing was sent")
    else:
        lines.append(f"{_INDENT}{request.get('method')} {request.get('url')}")
        lines += _message(request)
    lines.append("response:")
    if response is None:
        lines.append(_INDENT + "no answer came")
    else:
        lines.append(f"{_INDENT}{response.get('status')}")
        lines += _message(response)
    return lines


def _message(message: Mapping[str, Any]) -> list[str]:
    """Headers, then a blank line and the body (as in HTTP itself), then whether the body was cut."""
    headers = message.get("headers")
    lines = [f"{_INDENT}{name}: {value}" for name, value in (headers.items() if isinstance(headers, Mapping) else ())]
    body = message.get("body")
    if body is None or body == "":
        lines.append(_INDENT + "(no body)")
    else:
        text = body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)
        lines.append("")
        lines += [_INDENT + line for line in text.splitlines()]
    cut = message.get("truncated")
    if isinstance(cut, Mapping):
        lines.append(_INDENT + _truncation(cut))
    return lines


def _truncation(cut: Mapping[str, Any]) -> str:
    """`truncated: only the first 1024 of 250000 bytes were kept (sha256 ab12…)`."""
    kept, size, digest = cut.get("kept_bytes"), cut.get("size_bytes"), cut.get("sha256")
    text = f"truncated: only the first {kept} of {size} bytes were kept"
    return text + (f" (sha256 of the whole body: {digest})" if digest else "")
