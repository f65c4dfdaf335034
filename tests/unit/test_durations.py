"""Durations in definitions: units, plain seconds, and refusals."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.definition import parse_duration_ms
from coordinator.durations import format_duration_ms


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("250ms", 250),
        ("5s", 5_000),
        ("2m", 120_000),
        ("1h", 3_600_000),
        ("1m30s", 90_000),
        ("1.5s", 1_500),
        (" 5s ", 5_000),
        (5, 5_000),
        (0, 0),
        (0.25, 250),
        ("3", 3_000),
        ("0.5", 500),
        ("0ms", 0),
    ],
)
def test_parses(value: Any, expected: int) -> None:
    assert parse_duration_ms(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("abc", "is not a duration"),
        ("5 s", "is not a duration"),
        ("5w", "is not a duration"),
        ("", "is not a duration"),
        ("-5s", "must not be negative"),
        (-1, "must not be negative"),
        ("-2", "must not be negative"),
        (True, "not a boolean"),
        (None, "not null"),
        ([5], "not a list"),
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        ("400d", "too long"),
        (10**9, "too long"),
        ("9000h", "too long"),
    ],
)
def test_refuses(value: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_duration_ms(value)


def test_error_suggests_the_syntax() -> None:
    with pytest.raises(ValueError, match=r"250ms, 5s, 2m, 1h, 30d or a number of seconds"):
        parse_duration_ms("soon")


@pytest.mark.parametrize(
    ("ms", "text"), [(0, "0ms"), (250, "250ms"), (5_000, "5s"), (120_000, "2m"), (3_600_000, "1h")]
)
def test_format_round_trips(ms: int, text: str) -> None:
    assert format_duration_ms(ms) == text
    assert parse_duration_ms(text) == ms
