"""The values of the operator commands' flags that argparse cannot check alone: `--input`,
`--timeout` and `--limit`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "parse_timeout", "positive_int", "read_input"]


class UsageError(Exception):
    """A command line that parses but makes no sense (bad JSON, unreadable file, bad duration)."""


def read_input(value: str | None) -> Any:
    """`--input`: JSON text, `@file` or `@-` (stdin); None when absent."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        name = value[1:]
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as error:
            raise UsageError(f"--input: cannot read {name}: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise UsageError(f"--input is not JSON: {error}") from None


def parse_timeout(value: str | None) -> float | None:
    """`--timeout 30s` in seconds (the definition format's durations); None when absent."""
    if value is None:
        return None
    from coordinator.definition import parse_duration_ms

    try:
        return parse_duration_ms(value) / 1000
    except ValueError as error:
        raise UsageError(f"--timeout: {error}") from None


def positive_int(value: str) -> int:
    """An argparse `type` for counts: 1 or more."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number
