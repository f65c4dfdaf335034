"""Checks that relate several values of a definition, run on the raw document.

They run even when the document's shape is wrong elsewhere, so one registration reports every
problem at once; values of the wrong type are skipped here (the model checks report them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from coordinator.definition.expressions import (
    TemplateSyntaxError,
    check_roots,
    compile_expression,
    contains_template,
    parse_template,
    root_references,
)
from coordinator.definition.layout import PlacedStep, placed_steps
from coordinator.definition.paths import join_path, strings_in
from coordinator.definition.shapes import shape_problems
from coordinator.definition.urls import split_url
from coordinator.durations import format_duration_ms, parse_duration_ms
from coordinator.errors import Problem

TargetPolicy = Callable[[str], str | None]

_BUILTIN_INITIAL_MS = 200
_BUILTIN_MAX_MS = 30_000
_CALLS = ("action", "compensation")
OUTPUT_REFUSED_ROOTS = ("input", "secrets")
"""What an `output:` template may not read: the output is rendered from stored state, and is shown
to anyone who may read the execution, so a secret must never reach it."""


@dataclass(frozen=True, slots=True)
class _Scope:
    """Which step responses a template may read: those of steps before `limit`, and `own` (a
    compensation reads its own step's response), never a sibling in the same parallel group."""

    limit: int
    is_defaults: bool = False
    is_action: bool = True
    this: int | None = None
    own: int | None = None
    siblings: tuple[int, ...] = ()

    @staticmethod
    def of(placed: PlacedStep, call_key: str) -> _Scope:
        """The scope of the `call_key` call of `placed`."""
        is_action = call_key == "action"
        if not placed.members:
            limit = placed.position if is_action else placed.position + 1
            return _Scope(limit, is_action=is_action, this=placed.position)
        siblings = tuple(m for m in placed.members if m != placed.position)
        own = None if is_action else placed.position
        return _Scope(placed.first_of_stage, is_action=is_action, this=placed.position, own=own, siblings=siblings)


def consistency_problems(document: Mapping[str, Any], allow_target: TargetPolicy | None) -> list[Problem]:
    """Every cross-field problem in `document`: JSON types, step names, templates, retries, targets."""
    problems = list(json_problems(document))
    placed = placed_steps(document)
    steps = [p.step for p in placed]
    positions = _step_positions(placed, problems)
    defaults = _mapping(document.get("defaults"))

    problems += _template_problems(_mapping(defaults.get("headers")), "defaults.headers", positions, _Scope(0, True))
    problems += shape_problems(document)
    for p in placed:
        for call_key in _CALLS:
            call = _mapping(p.step.get(call_key))
            scope = _Scope.of(p, call_key)
            path = f"{p.path}.{call_key}"
            for field in ("url", "headers", "body"):
                if field in call:
                    problems += _template_problems(call[field], f"{path}.{field}", positions, scope)
            problems += _target_problems(call.get("url"), f"{path}.url", allow_target)

    if document.get("output") is not None:
        problems += _output_problems(document["output"], positions, len(steps))
    if isinstance(document.get("key"), str):
        problems += _key_problems(document["key"])

    # The layers each retry policy is merged from (see builder.compensation_retry_policy).
    saga_retry = _mapping(defaults.get("retry"))
    saga_compensation = _mapping(defaults.get("compensation_retry"))
    problems += _interval_problems([], saga_retry, "defaults.retry")
    problems += _interval_problems([saga_retry], saga_compensation, "defaults.compensation_retry")
    for p in placed:
        problems += _interval_problems([saga_retry], _mapping(p.step.get("retry")), f"{p.path}.retry")
        problems += _interval_problems(
            [saga_retry, saga_compensation], _mapping(p.step.get("compensation_retry")), f"{p.path}.compensation_retry"
        )
    return problems


def json_problems(value: Any, path: str = "") -> Iterator[Problem]:
    """Values that JSON cannot hold (YAML dates, sets, binary, NaN, non-string keys)."""
    # An explicit stack: a deeply nested document must not exhaust Python's recursion limit.
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str):
                    yield Problem(where or "$", f"key {key!r} must be a string")
                else:
                    stack.append((join_path(where, key), child))
        elif isinstance(item, list):
            stack.extend((join_path(where, i), child) for i, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            yield Problem(where or "$", "must be a finite number")
        elif not (item is None or isinstance(item, str | int | float)):
            yield Problem(where or "$", f"a {type(item).__name__} is not a JSON value")


def _step_positions(placed: list[PlacedStep], problems: list[Problem]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for p in placed:
        name = p.step.get("name")
        if not isinstance(name, str):
            continue
        if name in positions:
            first = placed[positions[name]].path
            problems.append(Problem(f"{p.path}.name", f"step name {name!r} is already used by {first}"))
        else:
            positions[name] = p.position
    return positions


def _template_problems(value: Any, path: str, positions: Mapping[str, int], scope: _Scope) -> list[Problem]:
    problems: list[Problem] = []
    for where, text in strings_in(value, path):
        if not contains_template(text):
            continue
        try:
            sources = [e.source for e in parse_template(text).expressions]
            for source in sources:
                compile_expression(source)
        except TemplateSyntaxError as exc:
            problems.append(Problem(where, str(exc)))
            continue
        for source in sources:
            problems += [Problem(where, message) for message in check_roots(source)]
            problems += [Problem(where, m) for m in _step_reference_problems(source, positions, scope)]
    return problems


def _step_reference_problems(source: str, positions: Mapping[str, int], scope: _Scope) -> Iterator[str]:
    for ref in root_references(source):
        if ref.root != "steps" or ref.name is None:
            continue
        position = positions.get(ref.name)
        if position is None:
            yield f"expression {source!r} references unknown step {ref.name!r}"
        elif scope.is_defaults:
            yield (
                f"expression {source!r} reads step {ref.name!r}, but defaults apply to every step, "
                "including the first, which has no earlier step"
            )
        elif scope.is_action and position == scope.this:
            yield f"expression {source!r} references step {ref.name!r} itself: its response does not exist yet"
        elif position in scope.siblings:
            yield (
                f"expression {source!r} references step {ref.name!r}, a sibling in the same parallel group: "
                "members run at the same time, so its response may not exist yet"
            )
        elif position >= scope.limit and position != scope.own:
            yield f"expression {source!r} references step {ref.name!r} which runs later"


def _output_problems(output: Any, positions: Mapping[str, int], step_count: int) -> list[Problem]:
    """`output` is rendered when the saga completes: every step has answered, no input nor secret is read."""
    problems = _template_problems(output, "output", positions, _Scope(step_count, is_action=False))
    for where, text in strings_in(output, "output"):
        if not contains_template(text):
            continue
        try:
            sources = [e.source for e in parse_template(text).expressions]
            refs = [(source, ref) for source in sources for ref in root_references(source)]
        except TemplateSyntaxError:
            continue  # reported above
        for source, ref in refs:
            if ref.root in OUTPUT_REFUSED_ROOTS:
                message = f"expression {source!r} reads {ref.root}: an output may read only steps and execution"
                problems.append(Problem(where, message))
    return problems


def _key_problems(key: str) -> list[Problem]:
    """`key` is rendered at start, before any step answered: it may read only `input`."""
    if not contains_template(key):
        return []
    try:
        sources = [e.source for e in parse_template(key).expressions]
    except TemplateSyntaxError as error:
        return [Problem("key", str(error))]
    return [
        Problem("key", f"expression {source!r} reads {ref.root}: a key is rendered at start and may read only input")
        for source in sources
        for ref in root_references(source)
        if ref.root != "input"
    ]


def _target_problems(url: Any, path: str, allow_target: TargetPolicy | None) -> list[Problem]:
    if allow_target is None or not isinstance(url, str):
        return []
    try:
        origin, _ = split_url(url)
    except ValueError:
        return []  # the URL problem itself is reported by the model checks
    refusal = allow_target(origin)
    return [Problem(path, refusal)] if refusal else []


def _interval_problems(inherited: list[Mapping[str, Any]], own: Mapping[str, Any], path: str) -> list[Problem]:
    """max_interval must not be below initial_interval once the inherited layers are merged in.

    `inherited` holds the layers `own` is merged over, oldest first. Reported where one of the two
    is written, so a conflict inside `defaults` is reported once there, not again for every step.
    """
    written = [key for key in ("max_interval", "initial_interval") if key in own]
    if not written:
        return []
    initial = _merged_ms("initial_interval", inherited, own, _BUILTIN_INITIAL_MS)
    maximum = _merged_ms("max_interval", inherited, own, _BUILTIN_MAX_MS)
    if initial is None or maximum is None or maximum >= initial:
        return []
    inherited_note = " (the other one is inherited)" if len(written) < 2 else ""
    message = (
        f"max_interval ({format_duration_ms(maximum)}) is shorter than initial_interval "
        f"({format_duration_ms(initial)}){inherited_note}"
    )
    return [Problem(f"{path}.{written[0]}", message)]


def _merged_ms(key: str, inherited: list[Mapping[str, Any]], own: Mapping[str, Any], builtin: int) -> int | None:
    value = None
    for layer in [*inherited, own]:
        if layer.get(key) is not None:  # null means "not set" in the model too
            value = layer[key]
    if value is None:
        return builtin
    try:
        return parse_duration_ms(value)
    except ValueError:
        return None  # reported by the model checks


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
