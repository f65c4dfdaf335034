"""Keyset pagination: opaque cursors and pages, shared by every store.

A cursor is urlsafe base64 of a JSON list `[kind, *position]`: the position of the last item
served. The kind tag makes a cursor from one list invalid for another. Cursors are not signed:
a forged one only moves the caller's own position in a list it may read anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from coordinator.errors import InvalidInput, Problem
from coordinator.ports import Page

T = TypeVar("T")

_EXECUTIONS = "x"
_DEFINITIONS = "d"
_VERSIONS = "v"


def _encode(kind: str, *position: str | int) -> str:
    raw = json.dumps([kind, *position], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid(why: str) -> InvalidInput:
    return InvalidInput("invalid cursor", [Problem("cursor", why)])


def _decode(cursor: str, kind: str, shape: Sequence[type]) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise _invalid("not a cursor returned by this list") from exc
    if not isinstance(data, list) or len(data) != len(shape) + 1 or data[0] != kind:
        raise _invalid("not a cursor returned by this list")
    position = data[1:]
    # `type(...) is` rather than isinstance: JSON `true` must not pass as an integer.
    if any(type(value) is not expected for value, expected in zip(position, shape, strict=True)):
        raise _invalid("not a cursor returned by this list")
    # Keys are 64-bit in the database; a forged larger integer must not reach the driver.
    if any(type(value) is int and not -(2**63) <= value < 2**63 for value in position):
        raise _invalid("not a cursor returned by this list")
    return position


def check_limit(limit: int) -> None:
    """Refuse a page size below one (an upper bound is the API's business)."""
    if limit < 1:
        raise InvalidInput("invalid limit", [Problem("limit", "must be at least 1")])


def execution_cursor(created_at_ms: int, execution_id: str) -> str:
    """The cursor after an execution in the newest-first list."""
    return _encode(_EXECUTIONS, created_at_ms, execution_id)


def decode_execution_cursor(cursor: str) -> tuple[int, str]:
    """(created_at_ms, id) of the last execution served. Raises InvalidInput."""
    created_at_ms, execution_id = _decode(cursor, _EXECUTIONS, (int, str))
    return created_at_ms, execution_id


def definition_cursor(name: str) -> str:
    """The cursor after a saga in the by-name list."""
    return _encode(_DEFINITIONS, name)


def decode_definition_cursor(cursor: str) -> str:
    """The name of the last saga served. Raises InvalidInput."""
    (name,) = _decode(cursor, _DEFINITIONS, (str,))
    return str(name)


def version_cursor(name: str, version: int) -> str:
    """The cursor after a version in the newest-first list of one saga."""
    return _encode(_VERSIONS, name, version)


def decode_version_cursor(cursor: str, name: str) -> int:
    """The last version served; a cursor from another saga's list is invalid. Raises InvalidInput."""
    cursor_name, version = _decode(cursor, _VERSIONS, (str, int))
    if cursor_name != name:
        raise _invalid("the cursor belongs to another saga's versions")
    return int(version)


def event_cursor(seq: int) -> str:
    """`list_events` has `after_seq` rather than a cursor: its next cursor is that seq, as text."""
    return str(seq)


def page_of(rows: Sequence[T], limit: int, cursor_after: Callable[[T], str]) -> Page[T]:
    """A page from up to `limit + 1` rows: the extra row only tells that another page exists."""
    if len(rows) > limit:
        items = list(rows[:limit])
        return Page(items=items, next_cursor=cursor_after(items[-1]))
    return Page(items=list(rows), next_cursor=None)
