"""Valid definitions compile to the right SagaSpec: defaults merged, durations, built-in values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from coordinator.core.retry import Jitter, RetryPolicy
from coordinator.core.spec import CallSpec, SagaSpec, StatusPattern
from coordinator.definition import compile_definition


def minimal() -> dict[str, Any]:
    return {
        "name": "order-checkout",
        "steps": [{"name": "reserve", "action": {"method": "post", "url": "http://inventory:8001/reservations"}}],
    }


def full() -> dict[str, Any]:
    return {
        "name": "order-checkout",
        "version": 3,
        "description": "Reserve stock, charge the card",
        "input_schema": {"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "string"}}},
        "deadline": "2m",
        "defaults": {
            "timeout": "3s",
            "retry": {"max_attempts": 4, "initial_interval": "100ms", "multiplier": 3, "max_interval": "10s"},
            "compensation_retry": {"max_attempts": 20, "jitter": "equal"},
            "headers": {"X-Tenant": "{{ input.tenant }}", "X-Source": "saga"},
        },
        "steps": [
            {
                "name": "reserve",
                "action": {
                    "method": "POST",
                    "url": "https://inventory:8001/reservations?order={{ input.order_id }}",
                    "headers": {"x-tenant": "fixed"},
                    "body": {"order_id": "{{ input.order_id }}", "items": "{{ input.items }}"},
                    "timeout": "2s",
                    "success": ["2xx", 409],
                    "retry_on": ["timeout", "503"],
                },
                "retry": {"max_attempts": 5, "jitter": "none"},
                "deadline": 20,
                "compensation": {
                    "method": "DELETE",
                    "url": "https://inventory:8001/reservations/{{ steps.reserve.response.body.reservation_id }}",
                },
                "compensation_retry": {"initial_interval": "1s"},
            },
            {
                "name": "charge",
                "action": {
                    "method": "POST",
                    "url": "http://payment:8002/charges",
                    "body": {"reservation": "{{ steps.reserve.response.body.reservation_id }}"},
                },
            },
        ],
    }


def test_minimal_definition_gets_every_builtin_value() -> None:
    spec = compile_definition(minimal(), version=1)

    assert isinstance(spec, SagaSpec)
    assert (spec.name, spec.version, spec.description, spec.deadline_ms, spec.input_schema) == (
        "order-checkout",
        1,
        None,
        None,
        None,
    )
    (step,) = spec.steps
    assert step.name == "reserve"
    assert step.compensation is None
    assert step.deadline_ms is None
    assert step.retry == RetryPolicy(
        max_attempts=3, initial_interval_ms=200, multiplier=2.0, max_interval_ms=30_000, jitter=Jitter.FULL
    )
    assert step.compensation_retry == RetryPolicy(max_attempts=10)
    assert step.action == CallSpec(
        method="POST",
        origin="http://inventory:8001",
        path_template="/reservations",
        headers={},
        body=None,
        timeout_ms=5_000,
        success=(StatusPattern("2xx"),),
        retry_on_status=(StatusPattern("408"), StatusPattern("429"), StatusPattern("5xx")),
        retry_on_timeout=True,
        retry_on_connect=True,
    )


def test_version_argument_wins_over_the_document() -> None:
    assert compile_definition(full(), version=7).version == 7


def test_full_definition() -> None:
    spec = compile_definition(full(), version=3)

    assert spec.description == "Reserve stock, charge the card"
    assert spec.deadline_ms == 120_000
    assert spec.input_schema == full()["input_schema"]
    reserve, _charge = spec.steps
    assert reserve.deadline_ms == 20_000
    action = reserve.action
    assert action.origin == "https://inventory:8001"
    assert action.path_template == "/reservations?order={{ input.order_id }}"
    assert action.url_template == full()["steps"][0]["action"]["url"]
    assert action.timeout_ms == 2_000
    assert action.success == (StatusPattern("2xx"), StatusPattern("409"))
    assert action.retry_on_status == (StatusPattern("503"),)
    assert action.retry_on_timeout is True
    assert action.retry_on_connect is False
    assert action.body == {"order_id": "{{ input.order_id }}", "items": "{{ input.items }}"}


def test_headers_merge_without_case_and_step_values_win() -> None:
    reserve, charge = compile_definition(full(), version=3).steps

    assert reserve.action.headers == {"X-Source": "saga", "x-tenant": "fixed"}
    assert charge.action.headers == {"X-Tenant": "{{ input.tenant }}", "X-Source": "saga"}
    assert reserve.compensation is not None
    assert reserve.compensation.headers == {"X-Tenant": "{{ input.tenant }}", "X-Source": "saga"}


def test_retry_merges_field_by_field_over_defaults_over_builtins() -> None:
    reserve, charge = compile_definition(full(), version=3).steps

    assert reserve.retry == RetryPolicy(
        max_attempts=5, initial_interval_ms=100, multiplier=3.0, max_interval_ms=10_000, jitter=Jitter.NONE
    )
    assert charge.retry == RetryPolicy(
        max_attempts=4, initial_interval_ms=100, multiplier=3.0, max_interval_ms=10_000, jitter=Jitter.FULL
    )
    # Compensations: the step's own fields over defaults.compensation_retry over the backoff of
    # defaults.retry (SPEC section 2); defaults.retry's max_attempts is for forward calls only.
    assert reserve.compensation_retry == RetryPolicy(
        max_attempts=20, initial_interval_ms=1_000, multiplier=3.0, max_interval_ms=10_000, jitter=Jitter.EQUAL
    )
    assert charge.compensation_retry == RetryPolicy(
        max_attempts=20, initial_interval_ms=100, multiplier=3.0, max_interval_ms=10_000, jitter=Jitter.EQUAL
    )


def test_compensation_waits_follow_the_sagas_defaults() -> None:
    # Issue 13: the saga said 5 s, yet compensation waits grew to 20 s (the built-in 30 s cap).
    document = minimal()
    document["defaults"] = {"retry": {"max_attempts": 2, "initial_interval": "1s", "max_interval": "5s"}}
    document["steps"][0]["compensation"] = {"method": "DELETE", "url": "http://inventory:8001/reservations/1"}

    [reserve] = compile_definition(document, version=1).steps

    policy = reserve.compensation_retry
    assert policy == RetryPolicy(max_attempts=10, initial_interval_ms=1_000, max_interval_ms=5_000)
    assert max(policy.delay_for(n, seed=f"s{n}") for n in range(1, 11)) <= 5_000
    assert reserve.retry.max_attempts == 2


def test_a_steps_forward_retry_does_not_shape_its_compensation() -> None:
    document = minimal()
    document["steps"][0]["retry"] = {"initial_interval": "2s", "max_interval": "4s"}
    document["steps"][0]["compensation_retry"] = {"max_attempts": 4}

    [reserve] = compile_definition(document, version=1).steps

    assert reserve.compensation_retry == RetryPolicy(max_attempts=4)


def test_defaults_timeout_applies_where_the_call_has_none() -> None:
    reserve, charge = compile_definition(full(), version=3).steps

    assert reserve.action.timeout_ms == 2_000
    assert reserve.compensation is not None
    assert reserve.compensation.timeout_ms == 3_000
    assert charge.action.timeout_ms == 3_000


def test_compensation_defaults() -> None:
    reserve = compile_definition(full(), version=3).steps[0]

    compensation = reserve.compensation
    assert compensation is not None
    assert compensation.method == "DELETE"
    assert compensation.success == (StatusPattern("2xx"), StatusPattern("404"), StatusPattern("410"))
    assert compensation.path_template == "/reservations/{{ steps.reserve.response.body.reservation_id }}"


def test_compensation_retry_on_is_ignored() -> None:
    document = minimal()
    document["steps"][0]["compensation"] = {"method": "DELETE", "url": "http://h/x", "retry_on": ["404"]}

    compensation = compile_definition(document, version=1).steps[0].compensation

    assert compensation is not None
    assert compensation.retry_on_status == (StatusPattern("408"), StatusPattern("429"), StatusPattern("5xx"))


@pytest.mark.parametrize("method", ["get", "Post", "PUT", "patch", "delete", "head", "OPTIONS"])
def test_methods_are_stored_upper_case(method: str) -> None:
    document = minimal()
    document["steps"][0]["action"]["method"] = method

    assert compile_definition(document, version=1).steps[0].action.method == method.upper()


@pytest.mark.parametrize(
    ("url", "origin", "path"),
    [
        ("http://inventory:8001/reservations", "http://inventory:8001", "/reservations"),
        ("HTTPS://Inventory.Example.com/a/b?c=d", "https://inventory.example.com", "/a/b?c=d"),
        ("http://h", "http://h", ""),
        ("http://h?x={{ input.x }}", "http://h", "?x={{ input.x }}"),
        ("http://[::1]:8080/x", "http://[::1]:8080", "/x"),
        ("http://my_service:80/{{ input.id }}/items", "http://my_service:80", "/{{ input.id }}/items"),
    ],
)
def test_urls_split_into_origin_and_path(url: str, origin: str, path: str) -> None:
    document = minimal()
    document["steps"][0]["action"]["url"] = url

    action = compile_definition(document, version=1).steps[0].action

    assert (action.origin, action.path_template) == (origin, path)


def test_allow_target_is_called_with_each_origin() -> None:
    seen: list[str] = []

    def allow(origin: str) -> str | None:
        seen.append(origin)
        return None

    compile_definition(full(), version=1, allow_target=allow)

    assert seen == ["https://inventory:8001", "https://inventory:8001", "http://payment:8002"]


def test_compile_does_not_share_mutable_values_with_the_document() -> None:
    document = full()
    spec = compile_definition(document, version=1)
    before = copy.deepcopy(spec.steps[0].action.body)

    document["steps"][0]["action"]["body"]["order_id"] = "changed"
    document["input_schema"]["required"].append("x")

    assert spec.steps[0].action.body == before
    assert spec.input_schema is not None
    assert spec.input_schema["required"] == ["order_id"]


def test_fifty_steps_are_allowed() -> None:
    document = minimal()
    document["steps"] = [{"name": f"s{i}", "action": {"method": "GET", "url": f"http://h/{i}"}} for i in range(50)]

    assert len(compile_definition(document, version=1).steps) == 50


def test_templates_may_read_input_execution_secrets_and_earlier_steps() -> None:
    document = full()
    document["steps"][1]["action"]["headers"] = {
        "Authorization": "Bearer {{ secrets.PAYMENT_TOKEN }}",
        "X-Execution": "{{ execution.id }}/{{ execution.saga }}/{{ execution.version }}",
        "X-Items": "{{ join(',', input.items[*].sku) }}",
        "X-Status": "{{ steps.reserve.response.status }}",
        "X-Any": "{{ input.a || steps.reserve.response.headers.etag }}",
    }

    compile_definition(document, version=1)
