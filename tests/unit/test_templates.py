"""Rendering templates at call time: types, interpolation, encoding, secrets and failures."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.core.spec import CallSpec
from coordinator.definition import TemplateContext, TemplateError, build_context, render_request
from coordinator.definition.expressions import Expression, TemplateSyntaxError, parse_template, secret_names

SECRETS = {"PAYMENT_TOKEN": "s3cr3t-token", "EMPTY": ""}


def context(input: Any = None, responses: dict[str, dict[str, Any]] | None = None) -> TemplateContext:
    return build_context(
        execution_id="ex-1",
        saga="order-checkout",
        version=3,
        input={"order_id": "o-1", "amount": 12.5, "items": [{"sku": "a", "qty": 2}], "n": 0}
        if input is None
        else input,
        responses=responses or {"reserve": {"status": 201, "headers": {"etag": "v1"}, "body": {"id": "r/1"}}},
        secrets=SECRETS.get,
    )


def call(**kwargs: Any) -> CallSpec:
    values: dict[str, Any] = {"method": "POST", "origin": "http://inventory:8001", "path_template": "/x"}
    values.update(kwargs)
    return CallSpec(**values)


def test_build_context_shapes_the_data() -> None:
    ctx = context()

    assert ctx.steps == {"reserve": {"response": {"status": 201, "headers": {"etag": "v1"}, "body": {"id": "r/1"}}}}
    assert ctx.execution == {"id": "ex-1", "saga": "order-checkout", "version": 3}


def test_a_string_that_is_one_template_keeps_the_json_type() -> None:
    body = {
        "items": "{{ input.items }}",
        "amount": "{{ input.amount }}",
        "zero": "{{ input.n }}",
        "status": "{{ steps.reserve.response.status }}",
        "flag": "{{ `true` }}",
        "nested": [{"id": "{{ input.order_id }}"}],
        "literal": 5,
        "text": "no template",
    }

    rendered = render_request(call(body=body), context())

    assert rendered.body == {
        "items": [{"sku": "a", "qty": 2}],
        "amount": 12.5,
        "zero": 0,
        "status": 201,
        "flag": True,
        "nested": [{"id": "o-1"}],
        "literal": 5,
        "text": "no template",
    }


def test_mixed_text_interpolates_values_as_text() -> None:
    body = {
        "reason": "order {{ input.order_id }} rolled back",
        "summary": "{{ input.amount }} for {{ input.items }}",
        "padded": " {{ input.order_id }}",
    }

    rendered = render_request(call(body=body), context())

    assert rendered.body == {
        "reason": "order o-1 rolled back",
        "summary": '12.5 for [{"sku":"a","qty":2}]',
        "padded": " o-1",
    }


def test_execution_fields() -> None:
    rendered = render_request(call(body="{{ execution.id }}:{{ execution.saga }}:{{ execution.version }}"), context())

    assert rendered.body == "ex-1:order-checkout:3"


def test_path_values_are_percent_encoded() -> None:
    spec = call(path_template="/reservations/{{ steps.reserve.response.body.id }}?note={{ input.note }}")

    rendered = render_request(spec, context(input={"note": "a b&c=d/../@evil.com#x"}))

    assert rendered.url == "http://inventory:8001/reservations/r%2F1?note=a%20b%26c%3Dd%2F..%2F%40evil.com%23x"


def test_a_path_value_cannot_change_the_host() -> None:
    rendered = render_request(call(path_template="/{{ input.x }}"), context(input={"x": "@evil.com/x?y#z"}))

    assert rendered.url == "http://inventory:8001/%40evil.com%2Fx%3Fy%23z"


def test_a_path_that_would_extend_the_origin_is_refused() -> None:
    spec = CallSpec(method="GET", origin="http://inventory", path_template="{{ input.x }}")

    with pytest.raises(TemplateError, match="must start with '/'"):
        render_request(spec, context(input={"x": ".evil.com"}))


def test_literal_url_is_unchanged() -> None:
    rendered = render_request(call(path_template="/a/b?c=d%20e"), context())

    assert rendered.url == "http://inventory:8001/a/b?c=d%20e"
    assert rendered.method == "POST"


def test_headers_render_to_strings() -> None:
    headers = {
        "X-Order": "{{ input.order_id }}",
        "X-Count": "{{ length(input.items) }}",
        "X-Items": "{{ input.items }}",
        "X-Static": "plain",
        "X-Number": 5,
        "X-Object": {"a": "{{ input.order_id }}"},
        "X-Bool": True,
    }

    rendered = render_request(call(headers=headers), context())

    assert rendered.headers == {
        "X-Order": "o-1",
        "X-Count": "1",
        "X-Items": '[{"sku":"a","qty":2}]',
        "X-Static": "plain",
        "X-Number": "5",
        "X-Object": '{"a":"o-1"}',
        "X-Bool": "true",
    }


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_header_line_breaks_from_values_are_refused(value: str) -> None:
    with pytest.raises(TemplateError, match="header 'X-Note' would contain a line break"):
        render_request(call(headers={"X-Note": "{{ input.note }}"}), context(input={"note": value}))


def test_a_json_header_value_escapes_line_breaks() -> None:
    rendered = render_request(call(headers={"X-Note": "{{ input.note }}"}), context(input={"note": {"a": "x\ny"}}))

    assert rendered.headers["X-Note"] == '{"a":"x\\ny"}'


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{{ input.missing }}", "expression 'input.missing' in body yielded nothing"),
        ({"a": ["{{ input.missing }}"]}, "expression 'input.missing' in body.a[0] yielded nothing"),
        ("id {{ steps.charge.response.body.id }}", "'steps.charge.response.body.id' in body yielded nothing"),
        ("{{ abs(input.order_id) }}", "expression 'abs(input.order_id)' in body failed: "),
    ],
)
def test_failing_expression_names_it(body: Any, fragment: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_request(call(body=body), context())

    assert fragment in str(caught.value)
    assert caught.value.expression is not None


def test_failing_path_expression_names_the_url() -> None:
    with pytest.raises(TemplateError, match=r"expression 'input.id' in url yielded nothing"):
        render_request(call(path_template="/x/{{ input.id }}"), context())


def test_empty_results_other_than_null_are_values() -> None:
    rendered = render_request(
        call(body={"a": "{{ input.a }}", "b": "{{ input.b }}"}), context(input={"a": "", "b": []})
    )

    assert rendered.body == {"a": "", "b": []}


def test_secrets_resolve_at_render_time_and_are_reported() -> None:
    spec = call(
        headers={"Authorization": "Bearer {{ secrets.PAYMENT_TOKEN }}"},
        body={"token": "{{ secrets.PAYMENT_TOKEN }}", "order": "{{ input.order_id }}"},
    )

    rendered = render_request(spec, context())

    assert rendered.headers == {"Authorization": "Bearer s3cr3t-token"}
    assert rendered.body == {"token": "s3cr3t-token", "order": "o-1"}
    assert rendered.secret_values == frozenset({"s3cr3t-token"})


def test_no_secrets_no_secret_values() -> None:
    assert render_request(call(body="{{ input.order_id }}"), context()).secret_values == frozenset()


def test_only_named_secrets_are_looked_up() -> None:
    asked: list[str] = []

    def source(name: str) -> str | None:
        asked.append(name)
        return "v"

    ctx = context()
    ctx.secrets = source
    render_request(call(body="{{ input.order_id }}", headers={"A": "{{ secrets.ONE }}"}), ctx)

    assert asked == ["ONE"]


def test_missing_secret_is_named_without_a_value() -> None:
    with pytest.raises(TemplateError) as caught:
        render_request(call(headers={"Authorization": "{{ secrets.NOPE }}"}), context())

    assert "secret 'NOPE', which is not set" in str(caught.value)


def test_secret_value_is_redacted_from_expression_errors() -> None:
    with pytest.raises(TemplateError) as caught:
        render_request(call(body="{{ abs(secrets.PAYMENT_TOKEN) }}"), context())

    assert "s3cr3t-token" not in str(caught.value)
    assert "***" in str(caught.value)


def test_whole_context_is_not_readable_at_render_time() -> None:
    with pytest.raises(TemplateError, match="not read the whole context"):
        render_request(call(body="{{ @ }}"), context())


def test_broken_template_at_render_time_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="not closed"):
        render_request(call(body="{{ input.a"), context())


def test_rendering_does_not_change_the_call() -> None:
    body = {"a": "{{ input.order_id }}"}
    spec = call(body=body)

    render_request(spec, context())

    assert spec.body == {"a": "{{ input.order_id }}"}


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("plain", ("plain",)),
        ("", ("",)),
        ("{{ a }}", (Expression("a"),)),
        ("x{{a}}y{{ b.c }}", ("x", Expression("a"), "y", Expression("b.c"))),
        ("{{ {k: input.a} }}", (Expression("{k: input.a}"),)),
        ("{{ {k: {j: input.a}} }}!", (Expression("{k: {j: input.a}}"), "!")),
        ("{{ 'a }} b' }}", (Expression("'a }} b'"),)),
        ('{{ `"}}"` }}', (Expression('`"}}"`'),)),
        ("a }} b", ("a }} b",)),
    ],
)
def test_parse_template(text: str, parts: tuple[Any, ...]) -> None:
    assert parse_template(text).parts == parts


def test_template_with_nested_braces_renders() -> None:
    rendered = render_request(call(body="{{ {k: {j: input.order_id}} }}"), context())

    assert rendered.body == {"k": {"j": "o-1"}}


@pytest.mark.parametrize("text", ["{{ a", "x {{ a } ", "{{ }}", "{{'a }}"])
def test_parse_template_refuses(text: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        parse_template(text)


def test_secret_names_ignore_nested_contexts() -> None:
    assert secret_names("join(',', [secrets.A, input.x, secrets.B])") == frozenset({"A", "B"})
    assert secret_names("input.items[?secrets.C == `1`]") == frozenset()
