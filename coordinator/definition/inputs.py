"""Checking a start request's input against the saga's `input_schema`."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from coordinator.core.spec import SagaSpec
from coordinator.definition.paths import ordered, path_of
from coordinator.errors import Problem

_MAX_MESSAGE = 300


def validate_input(spec: SagaSpec, value: Any) -> list[Problem]:
    """Every way `value` breaks `spec.input_schema` (JSON Schema 2020-12), at paths like `input.items[0].sku`.

    An empty list when the input is valid or the saga has no schema.
    """
    if spec.input_schema is None:
        return []
    validator = Draft202012Validator(spec.input_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    try:
        errors = list(validator.iter_errors(value))
    except Exception as exc:  # e.g. a local $ref that resolves to nothing: not the caller's fault
        return [Problem("input", f"the saga's input_schema cannot be applied: {exc}")]
    return ordered(_problem(error) for error in errors)


def _problem(error: ValidationError) -> Problem:
    message = json_message(error)
    # jsonschema quotes the offending value, which may be a large object.
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return Problem(path_of(list(error.absolute_path), base="input"), message)


def json_message(error: ValidationError) -> str:
    """`error.message` with the values it quotes written as JSON, not as Python reprs.

    jsonschema writes `None is not of type 'object'`; a caller who sent JSON reads
    `null is not of type "object"`. Its messages quote the instance, the keyword's value, their
    items and the instance's keys with `repr`, so each such repr is replaced by that value's JSON,
    all in one pass so that a replacement is never replaced again.
    """
    spelled: dict[str, str] = {}
    for value in _quoted_values(error):
        try:
            spelled.setdefault(repr(value), _json(value))
        except (TypeError, ValueError):
            continue  # not a JSON value (never from a parsed request): leave its repr
    spelled = {python: text for python, text in spelled.items() if python != text}
    if not spelled:
        return error.message
    # Longest first, so the repr of a whole object wins over the reprs of its parts.
    pattern = re.compile("|".join(re.escape(python) for python in sorted(spelled, key=len, reverse=True)))
    return pattern.sub(lambda found: spelled[found.group(0)], error.message)


def _quoted_values(error: ValidationError) -> list[Any]:
    values: list[Any] = [error.instance, error.validator_value]
    for container in (error.instance, error.validator_value):
        if isinstance(container, dict):
            values += list(container)
        elif isinstance(container, list):
            values += container
    return values


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
