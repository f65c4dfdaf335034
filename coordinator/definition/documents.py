"""Definition documents as bytes: parsing JSON or YAML, and the digest that identifies a body."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from coordinator.errors import DefinitionInvalid, Problem

MAX_DEPTH = 64
MAX_NODES = 200_000
"""Caps on the parsed structure. YAML aliases can make a small text expand into a huge tree, and
deep nesting would exhaust the recursion of later walkers; no real definition comes near either."""


class _Loader(yaml.SafeLoader):
    """YAML 1.1 safe loading that keeps JSON semantics and refuses duplicate keys.

    Timestamps are not resolved (`2024-01-01` stays a string, as JSON has no dates), and a key
    given twice is an error instead of the silent last-one-wins.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # an unhashable key; the base class reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def parse_document(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """Parse a definition from JSON or YAML.

    JSON when `content_type` mentions json, YAML when it mentions yaml or yml, otherwise JSON and
    then YAML (YAML's error is reported, as it is the more general syntax).

    Raises:
        DefinitionInvalid: the bytes are not UTF-8, do not parse, nest too deeply or are not a
            mapping at the top level; the single problem is at path `$` with line and column.
    """
    kind = (content_type or "").lower()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(f"the definition is not UTF-8 text (byte {exc.start + 1})") from None
    if "json" in kind:
        value = _parse_json(text)
    elif "yaml" in kind or "yml" in kind:
        value = _parse_yaml(text)
    else:
        try:
            value = json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
        except (ValueError, RecursionError):
            value = _parse_yaml(text)
    _check_size(value)
    if not isinstance(value, dict):
        raise _invalid(f"the definition must be a mapping at the top level, not {_kind(value)}")
    return value


def document_digest(document: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of `document` without its `version`.

    Two registrations of the same body get the same digest whatever their key order or version.
    """
    body = {key: value for key, value in document.items() if key != "version"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise _invalid(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise _invalid(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise _invalid(f"the definition is nested more than {MAX_DEPTH} levels deep") from None


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        raise _invalid(f"invalid YAML{where}: {reason}") from None
    except yaml.YAMLError as exc:
        raise _invalid(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise _invalid(f"the definition is nested more than {MAX_DEPTH} levels deep") from None


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_size(value: Any) -> None:
    # Counts nodes as a walker sees them, so an alias used many times counts every time.
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise _invalid(f"the definition has more than {MAX_NODES} values (after expanding YAML aliases)")
        if depth > MAX_DEPTH:
            raise _invalid(f"the definition is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _invalid(message: str) -> DefinitionInvalid:
    return DefinitionInvalid(message, [Problem("$", message)])


def _kind(value: Any) -> str:
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"
