"""Parsing definition bytes, the body digest, the editor schema, and start-input validation."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from coordinator.definition import (
    compile_definition,
    definition_json_schema,
    document_digest,
    parse_document,
    validate_input,
)
from coordinator.errors import DefinitionInvalid, Problem

YAML = b"""
name: order-checkout
steps:
  - name: reserve
    action: {method: POST, url: "http://inventory:8001/r", body: {day: 2024-01-01, n: 5}}
"""


def parse_error(raw: bytes, content_type: str | None) -> Problem:
    with pytest.raises(DefinitionInvalid) as caught:
        parse_document(raw, content_type)
    (problem,) = caught.value.problems
    assert problem.path == "$"
    assert caught.value.detail == problem.message
    return problem


@pytest.mark.parametrize("content_type", ["application/yaml", "text/yaml; charset=utf-8", "application/x-yml", None])
def test_yaml(content_type: str | None) -> None:
    document = parse_document(YAML, content_type)

    # Dates stay strings: a definition holds JSON values only.
    assert document["steps"][0]["action"]["body"] == {"day": "2024-01-01", "n": 5}


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", None, "text/plain"])
def test_json(content_type: str | None) -> None:
    assert parse_document(b'{"name": "x", "steps": []}', content_type) == {"name": "x", "steps": []}


def test_utf8_bom_is_accepted() -> None:
    assert parse_document(b'\xef\xbb\xbf{"name": "x"}', "application/json") == {"name": "x"}


def test_malformed_json_gives_line_and_column() -> None:
    problem = parse_error(b'{\n  "name": "x",\n  "steps": [,]\n}', "application/json")

    assert problem.message.startswith("invalid JSON at line 3, column 13: ")


def test_malformed_yaml_gives_line_and_column() -> None:
    problem = parse_error(b"name: x\nsteps:\n  - name: [unclosed\n", "application/yaml")

    assert problem.message.startswith("invalid YAML at line 4, column 1: ")


def test_unknown_content_type_reports_the_yaml_error() -> None:
    assert parse_error(b"name: [", None).message.startswith("invalid YAML at line 1")


@pytest.mark.parametrize(
    ("raw", "content_type", "fragment"),
    [
        (b"[1, 2]", "application/json", "not a list"),
        (b"- a\n- b\n", "application/yaml", "not a list"),
        (b"", "application/yaml", "not an empty document"),
        (b'"text"', "application/json", "not a str"),
        (b"5", None, "not a int"),
    ],
)
def test_top_level_must_be_a_mapping(raw: bytes, content_type: str | None, fragment: str) -> None:
    problem = parse_error(raw, content_type)

    assert "must be a mapping at the top level" in problem.message
    assert fragment in problem.message


def test_not_utf8() -> None:
    assert "not UTF-8" in parse_error(b'{"name": "\xff"}', "application/json").message


def test_duplicate_keys_are_refused() -> None:
    assert "duplicate key 'name'" in parse_error(b'{"name": "a", "name": "b"}', "application/json").message
    assert "duplicate key 'name'" in parse_error(b"name: a\nname: b\n", "application/yaml").message


def test_nan_is_not_json() -> None:
    assert "NaN is not a JSON number" in parse_error(b'{"a": NaN}', "application/json").message


def test_yaml_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    raw = "\n".join(lines).encode()

    assert "after expanding YAML aliases" in parse_error(raw, "application/yaml").message


def test_deep_nesting_is_refused() -> None:
    raw = b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}"

    assert "nested more than" in parse_error(raw, "application/json").message


def test_very_deep_nesting_does_not_crash() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000

    assert "nested more than" in parse_error(raw, "application/json").message


def test_digest_ignores_version_and_key_order() -> None:
    a = {"name": "x", "version": 1, "steps": [{"name": "s", "action": {"url": "u", "method": "GET"}}]}
    b = {"steps": [{"action": {"method": "GET", "url": "u"}, "name": "s"}], "name": "x", "version": 9}
    c = {"steps": [{"action": {"method": "GET", "url": "u"}, "name": "s"}], "name": "x"}

    assert document_digest(a) == document_digest(b) == document_digest(c)
    assert len(document_digest(a)) == 64
    assert document_digest(a) != document_digest({**a, "description": "d"})


def test_digest_is_sha256_of_the_canonical_json() -> None:
    import hashlib

    document = {"version": 2, "name": "é", "b": [1, 2]}

    expected = hashlib.sha256('{"b":[1,2],"name":"é"}'.encode()).hexdigest()
    assert document_digest(document) == expected


def test_json_schema_describes_the_format() -> None:
    schema = definition_json_schema()

    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["name", "steps"]
    assert schema["additionalProperties"] is False
    json.dumps(schema)


def test_json_schema_accepts_the_shipped_shape() -> None:
    document = parse_document(
        b"""
name: order-checkout
version: 1
deadline: 2m
defaults: {timeout: 5s, retry: {max_attempts: 3, initial_interval: 200ms, jitter: full}}
steps:
  - name: reserve
    action: {method: POST, url: "http://h:1/r", success: ["2xx", 409], retry_on: [timeout, "5xx"], timeout: 2}
    deadline: 20s
""",
        "application/yaml",
    )
    jsonschema.Draft202012Validator(definition_json_schema()).validate(document)


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["order_id", "items"],
    "properties": {
        "order_id": {"type": "string"},
        "items": {
            "type": "array",
            "items": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}},
        },
    },
}


def spec_with_schema(schema: dict[str, Any] | None) -> Any:
    document: dict[str, Any] = {"name": "s", "steps": [{"name": "a", "action": {"method": "GET", "url": "http://h/"}}]}
    if schema is not None:
        document["input_schema"] = schema
    return compile_definition(document, version=1)


def test_valid_input_has_no_problems() -> None:
    assert validate_input(spec_with_schema(SCHEMA), {"order_id": "o", "items": [{"sku": "a"}]}) == []


def test_no_schema_accepts_anything() -> None:
    assert validate_input(spec_with_schema(None), [1, "x"]) == []


def test_input_problems_have_paths() -> None:
    problems = validate_input(spec_with_schema(SCHEMA), {"order_id": 5, "items": [{"sku": "a"}, {"sku": 7}, {}]})

    assert problems == [
        Problem("input.items[1].sku", '7 is not of type "string"'),
        Problem("input.items[2]", '"sku" is a required property'),
        Problem("input.order_id", '5 is not of type "string"'),
    ]


def test_input_of_the_wrong_type_is_a_problem_at_input() -> None:
    assert validate_input(spec_with_schema(SCHEMA), "nope") == [Problem("input", '"nope" is not of type "object"')]


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        ({"type": "object"}, None, 'null is not of type "object"'),
        ({"type": ["object", "array"]}, True, 'true is not of type "object", "array"'),
        ({"enum": ["a", None]}, "c", '"c" is not one of ["a", null]'),
        ({"const": {"a": None}}, "c", '{"a": null} was expected'),
        (
            {"type": "object", "additionalProperties": False},
            {"zz": 1, "b": False},
            'Additional properties are not allowed ("b", "zz" were unexpected)',
        ),
        ({"type": "string", "maxLength": 1}, "it's ✓", '"it\'s ✓" is too long'),
    ],
)
def test_input_problems_speak_json_not_python(schema: dict[str, Any], value: Any, message: str) -> None:
    assert validate_input(spec_with_schema(schema), value) == [Problem("input", message)]


def test_input_schema_with_a_dangling_local_ref_is_reported_not_raised() -> None:
    spec = spec_with_schema({"$ref": "#/$defs/missing"})

    (problem,) = validate_input(spec, {})
    assert problem.path == "input"
    assert "input_schema cannot be applied" in problem.message
