"""The operator commands' flags: the connection flags every one of them takes (before or after the
subcommand), and the values argparse cannot check alone: `--input`, `--timeout` and `--limit`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "add_connection_options", "parse_timeout", "positive_int", "read_input"]


def add_connection_options(parser: argparse.ArgumentParser, *, after_subcommand: bool) -> None:
    """`--url`, `--token`, `--json` and `--no-color`, on `saga` itself and on each operator command.

    `saga --url X start …` and `saga start … --url X` both work: the top-level parser holds the
    defaults, and a subcommand's copies are SUPPRESSed when absent so that they do not overwrite a
    value given before the subcommand (argparse would, with ordinary defaults).
    """
    absent = argparse.SUPPRESS if after_subcommand else None
    flag_absent = argparse.SUPPRESS if after_subcommand else False
    parser.add_argument("--url", default=absent, help="the coordinator (default $SAGA_URL, else http://127.0.0.1:8080)")
    parser.add_argument("--token", default=absent, help="bearer token (default $SAGA_TOKEN; prefer the variable)")
    parser.add_argument(
        "--json", action="store_true", default=flag_absent, help="machine-readable JSON only, on stdout"
    )
    parser.add_argument("--no-color", action="store_true", default=flag_absent, help="no colours (NO_COLOR works too)")


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
