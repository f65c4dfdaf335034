"""Invalid definitions: every problem is reported, each at its JSON path, in one DefinitionInvalid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from coordinator.definition import compile_definition
from coordinator.errors import DefinitionInvalid, Problem


def minimal() -> dict[str, Any]:
    return {
        "name": "order-checkout",
        "steps": [
            {
                "name": "reserve",
                "action": {"method": "POST", "url": "http://inventory:8001/reservations"},
                "compensation": {"method": "DELETE", "url": "http://inventory:8001/reservations/1"},
            },
            {"name": "charge", "action": {"method": "POST", "url": "http://payment:8002/charges"}},
        ],
    }


def problems_of(document: dict[str, Any], **kwargs: Any) -> list[Problem]:
    with pytest.raises(DefinitionInvalid) as caught:
        compile_definition(document, version=1, **kwargs)
    assert caught.value.problems, "DefinitionInvalid without problems"
    return caught.value.problems


def only_problem(document: dict[str, Any], **kwargs: Any) -> Problem:
    problems = problems_of(document, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


def with_change(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = minimal()
    change(document)
    return document


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets a dotted path (`steps.0.action.url`) in a document."""

    def apply(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value

    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return apply


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # (id, change, path, message fragment)
    ("bad-name", _set("name", "Order Checkout"), "name", "not a valid saga name"),
    ("long-name", _set("name", "a" * 101), "name", "not a valid saga name"),
    ("name-type", _set("name", 5), "name", "must be a string"),
    ("missing-name", _drop("name"), "name", "required"),
    ("version-zero", _set("version", 0), "version", "at least 1"),
    ("version-string", _set("version", "2"), "version", "must be an integer"),
    ("version-bool", _set("version", True), "version", "must be an integer"),
    ("description-type", _set("description", ["x"]), "description", "must be a string"),
    ("unknown-top", _set("retries", 3), "retries", "unknown field 'retries'"),
    ("unknown-step-field", _set("steps.0.retries", 3), "steps[0].retries", "expected one of: name, action"),
    ("unknown-call-field", _set("steps.1.action.uri", "x"), "steps[1].action.uri", "unknown field 'uri'"),
    ("deadline", _set("deadline", "soon"), "deadline", "is not a duration"),
    ("deadline-zero", _set("deadline", 0), "deadline", "more than 0"),
    ("step-deadline", _set("steps.1.deadline", "-1s"), "steps[1].deadline", "must not be negative"),
    ("defaults-timeout", _set("defaults.timeout", "2h"), "defaults.timeout", "at most 1h"),
    ("timeout-zero", _set("steps.0.action.timeout", "0s"), "steps[0].action.timeout", "more than 0"),
    ("steps-empty", _set("steps", []), "steps", "must not be empty"),
    ("steps-type", _set("steps", {"a": 1}), "steps", "must be a list"),
    ("step-type", _set("steps.1", "charge"), "steps[1]", "must be a mapping"),
    ("step-name", _set("steps.1.name", "Charge-card"), "steps[1].name", "not a valid step name"),
    ("step-name-digit", _set("steps.1.name", "1st"), "steps[1].name", "not a valid step name"),
    ("duplicate-step", _set("steps.1.name", "reserve"), "steps[1].name", "already used by steps[0]"),
    ("missing-action", _drop("steps.1.action"), "steps[1].action", "required"),
    ("missing-url", _drop("steps.1.action.url"), "steps[1].action.url", "required"),
    ("method", _set("steps.1.action.method", "FETCH"), "steps[1].action.method", "is not one of GET, POST"),
    ("url-relative", _set("steps.1.action.url", "/charges"), "steps[1].action.url", "not an absolute http"),
    ("url-ftp", _set("steps.1.action.url", "ftp://h/x"), "steps[1].action.url", "not an absolute http"),
    ("url-no-host", _set("steps.1.action.url", "http:///x"), "steps[1].action.url", "has no host"),
    ("url-port", _set("steps.1.action.url", "http://h:99999/x"), "steps[1].action.url", "invalid host or port"),
    ("url-port-empty", _set("steps.1.action.url", "http://h:/x"), "steps[1].action.url", "invalid port"),
    ("url-userinfo", _set("steps.1.action.url", "http://u:p@h/x"), "steps[1].action.url", "credentials"),
    ("url-space", _set("steps.1.action.url", "http://h/a b"), "steps[1].action.url", "spaces"),
    ("url-unicode-host", _set("steps.1.action.url", "http://bücher.de/"), "steps[1].action.url", "xn--"),
    ("url-long", _set("steps.1.action.url", "http://h/" + "a" * 2048), "steps[1].action.url", "at most 2048"),
    (
        "url-host-template",
        _set("steps.1.action.url", "http://{{ input.host }}/x"),
        "steps[1].action.url",
        "the scheme, host and port of a URL cannot be templated",
    ),
    (
        "url-port-template",
        _set("steps.1.action.url", "http://h:{{ input.port }}/x"),
        "steps[1].action.url",
        "cannot be templated",
    ),
    ("url-whole-template", _set("steps.1.action.url", "{{ input.url }}"), "steps[1].action.url", "cannot be templated"),
    ("success-empty", _set("steps.1.action.success", []), "steps[1].action.success", "must not be empty"),
    (
        "success-pattern",
        _set("steps.1.action.success", ["2xx", "ok"]),
        "steps[1].action.success[1]",
        "not a status pattern",
    ),
    ("success-code", _set("steps.1.action.success", [600]), "steps[1].action.success[0]", "not a status pattern"),
    (
        "retry-on",
        _set("steps.1.action.retry_on", ["timeout", "reset"]),
        "steps[1].action.retry_on[1]",
        "not a retry condition",
    ),
    (
        "header-name",
        _set("steps.1.action.headers", {"X Bad": "1"}),
        'steps[1].action.headers["X Bad"]',
        "not a valid HTTP header name",
    ),
    (
        "header-name-crlf",
        _set("steps.1.action.headers", {"X-A\r\nX-B": "1"}),
        'steps[1].action.headers["X-A\\r\\nX-B"]',
        "not a valid HTTP header name",
    ),
    (
        "header-value-crlf",
        _set("steps.1.action.headers", {"X-A": "1\r\nX-B: 2"}),
        "steps[1].action.headers.X-A",
        "line breaks",
    ),
    (
        "header-reserved",
        _set("steps.1.action.headers", {"Idempotency-Key": "k"}),
        "steps[1].action.headers.Idempotency-Key",
        "set by the coordinator",
    ),
    (
        "header-twice",
        _set("steps.1.action.headers", {"X-A": "1", "x-a": "2"}),
        "steps[1].action.headers",
        "given twice",
    ),
    ("header-null", _set("defaults.headers", {"X-A": None}), "defaults.headers.X-A", "cannot be null"),
    ("max-attempts-0", _set("steps.0.retry", {"max_attempts": 0}), "steps[0].retry.max_attempts", "at least 1"),
    (
        "max-attempts-101",
        _set("steps.0.compensation_retry", {"max_attempts": 101}),
        "steps[0].compensation_retry.max_attempts",
        "at most 100",
    ),
    (
        "max-attempts-float",
        _set("defaults.retry", {"max_attempts": 2.5}),
        "defaults.retry.max_attempts",
        "must be an integer",
    ),
    ("multiplier", _set("steps.0.retry", {"multiplier": 0.5}), "steps[0].retry.multiplier", "at least 1"),
    ("multiplier-nan", _set("steps.0.retry", {"multiplier": float("nan")}), "steps[0].retry.multiplier", "finite"),
    ("jitter", _set("steps.0.retry", {"jitter": "some"}), "steps[0].retry.jitter", "'none', 'full' or 'equal'"),
    (
        "initial-negative",
        _set("steps.0.retry", {"initial_interval": -1}),
        "steps[0].retry.initial_interval",
        "must not be negative",
    ),
    (
        "interval-order",
        _set("steps.0.retry", {"initial_interval": "5s", "max_interval": "1s"}),
        "steps[0].retry.max_interval",
        "max_interval (1s) is shorter than initial_interval (5s)",
    ),
    (
        "interval-inherited",
        _set("steps.0.retry", {"initial_interval": "1m"}),
        "steps[0].retry.initial_interval",
        "shorter than initial_interval (1m) (the other one is inherited)",
    ),
    ("input-schema", _set("input_schema", {"type": "objekt"}), "input_schema", "not a valid JSON Schema"),
    ("input-schema-type", _set("input_schema", "object"), "input_schema", "must be a mapping"),
    (
        "input-schema-remote-ref",
        _set("input_schema", {"$ref": "http://evil/schema.json"}),
        "input_schema",
        "only local references",
    ),
    (
        "yaml-date",
        _set("steps.1.action.body", {"when": __import__("datetime").date(2024, 1, 1)}),
        "steps[1].action.body.when",
        "not a JSON value",
    ),
    ("nan-in-body", _set("steps.1.action.body", [float("nan")]), "steps[1].action.body[0]", "finite number"),
    (
        "template-syntax",
        _set("steps.1.action.body", {"id": "{{ input. }}"}),
        "steps[1].action.body.id",
        "invalid expression 'input.'",
    ),
    (
        "template-unclosed",
        _set("steps.1.action.headers", {"X-A": "{{ input.a"}),
        "steps[1].action.headers.X-A",
        "not closed",
    ),
    ("template-empty", _set("steps.1.action.body", "{{ }}"), "steps[1].action.body", "is empty"),
    (
        "template-function",
        _set("steps.1.action.body", "{{ shout(input.a) }}"),
        "steps[1].action.body",
        "unknown function shout()",
    ),
    (
        "template-arity",
        _set("steps.1.action.body", "{{ join(input.a) }}"),
        "steps[1].action.body",
        "with 1 argument(s); it takes 2",
    ),
    (
        "template-root",
        _set("steps.1.action.body", {"a": ["{{ env.HOME }}"]}),
        "steps[1].action.body.a[0]",
        "reads 'env'",
    ),
    ("template-current", _set("steps.1.action.body", "{{ @ }}"), "steps[1].action.body", "not read the whole context"),
    ("template-steps-bare", _set("steps.1.action.body", "{{ steps }}"), "steps[1].action.body", "must name a step"),
    (
        "template-secrets-bare",
        _set("steps.1.action.body", "{{ secrets }}"),
        "steps[1].action.body",
        "must name a secret",
    ),
    (
        "template-execution-field",
        _set("steps.1.action.body", "{{ execution.tenant }}"),
        "steps[1].action.body",
        "execution has only id, saga, version",
    ),
    (
        "template-later-step",
        _set("steps.0.action.body", {"c": "{{ steps.charge.response.body.id }}"}),
        "steps[0].action.body.c",
        "references step 'charge' which runs later",
    ),
    (
        "template-later-step-in-compensation",
        _set("steps.0.compensation.url", "http://h/{{ steps.charge.response.body.id }}"),
        "steps[0].compensation.url",
        "references step 'charge' which runs later",
    ),
    (
        "template-own-step",
        _set("steps.1.action.url", "http://h/{{ steps.charge.response.body.id }}"),
        "steps[1].action.url",
        "references step 'charge' itself",
    ),
    (
        "template-unknown-step",
        _set("steps.1.action.body", "{{ steps.ship.response.status }}"),
        "steps[1].action.body",
        "references unknown step 'ship'",
    ),
    (
        "template-in-defaults",
        _set("defaults.headers", {"X-R": "{{ steps.reserve.response.status }}"}),
        "defaults.headers.X-R",
        "defaults apply to every step",
    ),
    (
        "step-shape-typo",
        _set("steps.1.action.body", {"r": "{{ steps.reserve.respons.body }}"}),
        "steps[1].action.body.r",
        "reads steps.reserve.respons: a step has only response (steps.reserve.response.status, .headers or .body)",
    ),
    (
        "response-shape-typo",
        _set("steps.1.action.url", "http://h/{{ steps.reserve.response.bdy.id }}"),
        "steps[1].action.url",
        "reads steps.reserve.response.bdy: a response has only status, headers and body",
    ),
    (
        "compensation-interval-inherited-from-defaults-retry",
        lambda d: (
            _set("defaults.retry", {"max_interval": "2s"})(d),
            _set("steps.0.compensation_retry", {"initial_interval": "5s"})(d),
        ),
        "steps[0].compensation_retry.initial_interval",
        "max_interval (2s) is shorter than initial_interval (5s) (the other one is inherited)",
    ),
]


@pytest.mark.parametrize(("change", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_reported_at_its_path(change: Callable[[dict[str, Any]], None], path: str, fragment: str) -> None:
    problem = only_problem(with_change(change))

    assert problem.path == path
    assert fragment in problem.message


def test_later_step_referenced_through_an_index_or_filter_is_refused() -> None:
    document = with_change(_set("steps.0.action.body", "{{ steps.charge[0] || input.x }}"))

    assert "references step 'charge' which runs later" in only_problem(document).message


def test_expression_inside_a_filter_reads_the_element_not_the_root() -> None:
    # `steps` inside the filter is a field of each item, not the saga's steps.
    document = with_change(_set("steps.0.action.body", "{{ input.items[?steps == `1`] }}"))

    compile_definition(document, version=1)


def test_compensation_may_read_its_own_step() -> None:
    document = with_change(_set("steps.0.compensation.url", "http://h/{{ steps.reserve.response.body.id }}"))

    compile_definition(document, version=1)


def test_too_many_steps() -> None:
    document = minimal()
    document["steps"] = [{"name": f"s{i}", "action": {"method": "GET", "url": "http://h/"}} for i in range(101)]

    problem = only_problem(document)
    assert (problem.path, problem.message) == ("steps", "must have at most 100 items")


def test_every_problem_is_reported_at_once_in_path_order() -> None:
    document = minimal()
    document["name"] = "Bad Name"
    document["deadline"] = "later"
    document["steps"][0]["action"]["url"] = "http://{{ input.host }}/x"
    document["steps"][0]["action"]["body"] = "{{ steps.charge.response.body }}"
    document["steps"][0]["retry"] = {"max_attempts": 0}
    document["steps"][1]["name"] = "reserve"
    document["steps"][1]["action"]["method"] = "SEND"

    with pytest.raises(DefinitionInvalid) as caught:
        compile_definition(document, version=1)

    paths = [p.path for p in caught.value.problems]
    assert paths == [
        "deadline",
        "name",
        "steps[0].action.body",
        "steps[0].action.url",
        "steps[0].retry.max_attempts",
        "steps[1].action.method",
        "steps[1].name",
    ]
    assert caught.value.detail.startswith("invalid saga definition: deadline: ")
    assert caught.value.detail.endswith("(and 6 more problems)")


def test_cross_field_checks_run_even_when_the_shape_is_wrong() -> None:
    document = minimal()
    document["steps"][0]["action"]["body"] = "{{ steps.charge.response.body }}"
    document["steps"][1]["action"]["timeout"] = [1]

    paths = {p.path for p in problems_of(document)}

    assert paths == {"steps[0].action.body", "steps[1].action.timeout"}


def test_indexes_sort_as_numbers() -> None:
    document = minimal()
    document["steps"] = [{"name": f"s{i}", "action": {"method": "GET", "url": "http://h/"}} for i in range(12)]
    document["steps"][2]["action"]["method"] = "X"
    document["steps"][10]["action"]["method"] = "X"

    assert [p.path for p in problems_of(document)] == ["steps[2].action.method", "steps[10].action.method"]


def test_allow_target_refusal_is_a_problem_at_the_url() -> None:
    def allow(origin: str) -> str | None:
        return None if origin == "http://inventory:8001" else f"{origin} is not an allowed target"

    problem = only_problem(minimal(), allow_target=allow)

    assert problem == Problem("steps[1].action.url", "http://payment:8002 is not an allowed target")


def test_step_with_wrong_type_does_not_hide_the_others() -> None:
    document = minimal()
    document["steps"].insert(0, "oops")
    document["steps"][2]["action"]["url"] = "nope"

    assert [p.path for p in problems_of(document)] == ["steps[0]", "steps[2].action.url"]


def test_top_level_list_items_may_be_anything_without_crashing() -> None:
    document: dict[str, Any] = {"name": "x", "steps": [None, 1, [], {"name": 5, "action": 7}], "defaults": 3}

    paths = [p.path for p in problems_of(document)]

    assert paths == ["defaults", "steps[0]", "steps[1]", "steps[2]", "steps[3].action", "steps[3].name"]
