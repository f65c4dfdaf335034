"""`compile_definition`: a definition document to a `SagaSpec`, or every problem at once."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from coordinator.core.spec import DEFAULT_ALERT_AFTER_MS, SagaSpec
from coordinator.definition.builder import build_spec
from coordinator.definition.consistency import consistency_problems
from coordinator.definition.models import GROUP_TAG, STEP_TAG, GroupDocument, SagaDocument, StepDocument
from coordinator.definition.paths import ordered, path_of
from coordinator.definition.secrets import SecretExists, secret_problems
from coordinator.errors import DefinitionInvalid, Problem


def compile_definition(
    document: Mapping[str, Any],
    *,
    version: int,
    allow_target: Callable[[str], str | None] | None = None,
    secret_exists: SecretExists | None = None,
    default_alert_after_ms: int = DEFAULT_ALERT_AFTER_MS,
) -> SagaSpec:
    """Validate `document` (SPEC §2) and compile it as version `version`.

    Args:
        document: the parsed definition (JSON types).
        version: the version the compiled spec gets; the caller resolves an omitted `version`.
            A `version` inside the document is only checked to be an int >= 1.
        allow_target: policy hook called with each URL's origin (`http://host:port`); a returned
            string is reported as a problem at that URL.
        secret_exists: when given, every template that reads a secret that is not set is a
            problem naming the variable to set (`definition.secrets`); without it, secrets are
            not checked (an offline `saga validate`, or recompiling a stored version).
        default_alert_after_ms: `alert_after` for a definition that declares none (`SAGA_ALERT_AFTER`).

    Raises:
        DefinitionInvalid: with one `Problem` per thing wrong, each at its JSON path.
    """
    if not isinstance(document, Mapping):
        raise invalid_definition([Problem("$", "the definition must be a mapping")])
    problems = consistency_problems(document, allow_target)
    if secret_exists is not None:
        problems += secret_problems(document, secret_exists)
    model: SagaDocument | None = None
    try:
        model = SagaDocument.model_validate(dict(document))
    except ValidationError as exc:
        # One bad value may fail both here and in the JSON-type check: keep the clearer one.
        taken = {p.path for p in problems}
        problems += [p for p in map(_problem, exc.errors()) if p.path not in taken]
    if problems or model is None:
        raise invalid_definition(problems)
    return build_spec(model, version=version, default_alert_after_ms=default_alert_after_ms)


def invalid_definition(problems: list[Problem]) -> DefinitionInvalid:
    """One `DefinitionInvalid` carrying `problems` in path order, with a readable summary."""
    problems = ordered(problems)
    first = problems[0]
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    return DefinitionInvalid(f"invalid saga definition: {first.path}: {first.message}{more}", problems)


def _problem(error: Mapping[str, Any]) -> Problem:
    # `[key]` marks an error in a mapping key rather than its value: the path is the key's.
    loc = [part for part in error["loc"] if part not in ("[key]", STEP_TAG, GROUP_TAG)]
    return Problem(path_of(loc), _message(error))


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        allowed = _allowed_fields(error["loc"])
        hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
        return f"unknown field {error['loc'][-1]!r}{hint}"
    fixed = {
        "model_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
        "dict_type": "must be a mapping",
        "list_type": "must be a list",
        "string_type": "must be a string",
        "int_type": "must be an integer",
        "float_type": "must be a number",
        "finite_number": "must be a finite number",
    }
    if kind in fixed:
        return fixed[kind]
    if kind == "too_short":
        return (
            "must not be empty" if ctx.get("min_length") == 1 else f"must have at least {ctx.get('min_length')} items"
        )
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    return str(error["msg"])


_TAGGED: dict[str, type[BaseModel]] = {STEP_TAG: StepDocument, GROUP_TAG: GroupDocument}


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    """The fields of the model that holds the unknown key at `loc`."""
    model: type[BaseModel] | None = SagaDocument
    for part in loc[:-1]:
        if model is None:
            return []
        if isinstance(part, int):
            continue  # a list index: the items are of the model found at the list's field
        if part in _TAGGED:
            model = _TAGGED[part]  # which kind of `steps` entry the document holds there
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
