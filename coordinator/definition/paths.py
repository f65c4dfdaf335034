"""JSON paths for problems (`steps[1].action.url`) and their natural ordering."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from coordinator.errors import Problem

_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_TOKEN = re.compile(r"\[(\d+)\]|\[(\"(?:[^\"\\]|\\.)*\")\]|\.?([^.\[]+)")


def join_path(base: str, key: str | int) -> str:
    """`base` extended by a list index or a mapping key: `steps` + 1 -> `steps[1]`."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _PLAIN_KEY.fullmatch(key):
        return f"{base}.{key}" if base else key
    # Keys with dots, spaces or brackets are quoted so the path stays unambiguous.
    return f"{base}[{json.dumps(key)}]"


def path_of(parts: Sequence[str | int], base: str = "") -> str:
    """The path of a sequence of keys and indexes, such as a pydantic error location."""
    path = base
    for part in parts:
        path = join_path(path, part)
    return path or "$"


def _sort_key(problem: Problem) -> tuple[tuple[tuple[int, int | str], ...], str]:
    # Indexes compare as numbers so that steps[2] sorts before steps[10].
    parts: list[tuple[int, int | str]] = []
    for index, quoted, plain in _TOKEN.findall(problem.path):
        if index:
            parts.append((0, int(index)))
        else:
            parts.append((1, quoted or plain))
    return tuple(parts), problem.message


def ordered(problems: Iterable[Problem]) -> list[Problem]:
    """`problems` without duplicates, in document order of their paths."""
    return sorted(set(problems), key=_sort_key)


def strings_in(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside the JSON value `value` with its path (mapping keys are not included)."""
    # An explicit stack: a deeply nested document must not exhaust Python's recursion limit.
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, Mapping):
            stack.extend((join_path(where, k), v) for k, v in item.items() if isinstance(k, str))
        elif isinstance(item, list):
            stack.extend((join_path(where, i), v) for i, v in enumerate(item))
