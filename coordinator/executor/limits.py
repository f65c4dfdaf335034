"""Last checks on a rendered request before it is sent: sizes and header syntax.

Registration already bounds what a definition writes (URL 2 KiB, 50 headers, 8 KiB per value);
templates can still grow a value from the saga's input or an earlier response, so the rendered
request is bounded again here. A request over a limit is refused (an `invalid` outcome, never
retried) rather than cut, since a cut request would be a different request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_RENDERED_URL = 8 * 1024
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 * 1024

# RFC 9110 token characters for names; values may hold visible characters, spaces and tabs only.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def request_problem(url: str, headers: Mapping[str, str]) -> str | None:
    """Why the rendered request must not be sent, or None."""
    if len(url) > MAX_RENDERED_URL:
        return f"the rendered URL has {len(url)} characters (at most {MAX_RENDERED_URL})"
    if len(headers) > MAX_HEADERS:
        return f"{len(headers)} headers (at most {MAX_HEADERS})"
    total = 0
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            return f"{name!r} is not a valid header name"
        if _BAD_VALUE.search(value):
            return f"header {name!r} contains a line break or control character"
        total += len(name.encode()) + len(value.encode()) + 4
    if total > MAX_HEADER_BYTES:
        return f"the headers take {total} bytes (at most {MAX_HEADER_BYTES})"
    return None
