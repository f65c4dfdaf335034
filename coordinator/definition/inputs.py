"""Checking a start request's input against the saga's `input_schema`."""

from __future__ import annotations

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
    message = error.message
    # jsonschema quotes the offending value, which may be a large object.
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return Problem(path_of(list(error.absolute_path), base="input"), message)
