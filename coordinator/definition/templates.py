"""Rendering a call's templates at call time: the URL path, header values and body.

Values are encoded for where they land: percent-encoded in the path (so a value cannot add a path
segment or reach another host), a single line in a header, JSON in the body. Secrets are looked up
only here, only those an expression names, and reported back so that callers can redact them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jmespath.exceptions

from coordinator.core.spec import CallSpec
from coordinator.definition.expressions import (
    Expression,
    Template,
    TemplateSyntaxError,
    check_roots,
    compile_expression,
    contains_template,
    parse_template,
    secret_names,
)
from coordinator.definition.paths import join_path

SecretSource = Callable[[str], str | None]


class TemplateError(Exception):
    """A template could not be rendered; the message names the expression and why, never a secret."""

    def __init__(self, message: str, *, expression: str | None = None, location: str | None = None) -> None:
        super().__init__(message)
        self.expression = expression
        self.location = location


@dataclass(slots=True)
class TemplateContext:
    """What templates read: `input`, `steps.<name>.response`, `execution` and `secrets.<NAME>`."""

    input: Any
    steps: dict[str, dict[str, Any]]
    """Step name -> {"response": {"status", "headers", "body"}}, for steps that have answered."""
    execution: dict[str, Any]
    """{"id", "saga", "version"}."""
    secrets: SecretSource
    """Looks a secret up by name; None when there is no such secret."""


@dataclass(frozen=True, slots=True)
class RenderedRequest:
    """A call with every template replaced, ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: Any
    secret_values: frozenset[str] = field(default_factory=frozenset)
    """The secret values that went into this request, so logs and spans can redact them."""


def build_context(
    *,
    execution_id: str,
    saga: str,
    version: int,
    input: Any,
    responses: Mapping[str, Mapping[str, Any]],
    secrets: SecretSource,
) -> TemplateContext:
    """A context from an execution's identity, input and the responses so far (step -> response)."""
    return TemplateContext(
        input=input,
        steps={name: {"response": dict(response)} for name, response in responses.items()},
        execution={"id": execution_id, "saga": saga, "version": version},
        secrets=secrets,
    )


def render_request(call: CallSpec, context: TemplateContext) -> RenderedRequest:
    """Render `call` against `context`.

    Raises:
        TemplateError: an expression failed, yielded nothing (null), named a missing secret, or
            put a line break into a header.
    """
    if call.path_template and call.path_template[0] not in "/?#":
        # Compiled specs never look like this; a hand-built one must not extend the host or port.
        raise TemplateError(f"the URL path {call.path_template!r} must start with '/', '?' or '#'", location="url")
    renderer = _Renderer(context)
    url = call.origin + renderer.text(call.path_template, "url", encode=_path_value)
    headers = {name: renderer.header(name, value) for name, value in call.headers.items()}
    body = renderer.value(call.body, "body")
    return RenderedRequest(
        method=call.method,
        url=url,
        headers=headers,
        body=body,
        secret_values=frozenset(renderer.secret_values),
    )


def render_value(value: Any, context: TemplateContext, where: str) -> Any:
    """A JSON value with its templates rendered; a string that is one template keeps the value's type.

    Raises:
        TemplateError: an expression failed, yielded nothing (null), or named a missing secret.
    """
    return _Renderer(context).value(value, where)


def _path_value(text: str) -> str:
    # safe="" also encodes "/", "?", "#" and "@": a value stays one path segment or query value.
    return quote(text, safe="")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Renderer:
    """One request's rendering: evaluates expressions and remembers the secrets used."""

    def __init__(self, context: TemplateContext) -> None:
        self._context = context
        self.secret_values: set[str] = set()

    def value(self, value: Any, where: str) -> Any:
        """`value` with templates replaced; a string that is one template keeps the value's type."""
        if isinstance(value, str):
            if not contains_template(value):
                return value
            template = self._parse(value, where)
            if template.is_single_expression:
                return self.evaluate(template.expressions[0], where)
            return self.text(value, where)
        if isinstance(value, dict):
            return {key: self.value(item, join_path(where, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, join_path(where, i)) for i, item in enumerate(value)]
        return value

    def text(self, text: str, where: str, encode: Callable[[str], str] = _as_text) -> str:
        """`text` with each template replaced by its value as text, passed through `encode`."""
        if not contains_template(text):
            return text
        out: list[str] = []
        for part in self._parse(text, where).parts:
            if isinstance(part, Expression):
                out.append(encode(_as_text(self.evaluate(part, where))))
            else:
                out.append(part)
        return "".join(out)

    def header(self, name: str, value: Any) -> str:
        """A header value as one line of text."""
        where = f"header {name}"
        rendered = _as_text(self.value(value, where))
        if "\r" in rendered or "\n" in rendered or "\x00" in rendered:
            raise TemplateError(f"header {name!r} would contain a line break after rendering", location=where)
        return rendered

    def evaluate(self, expression: Expression, where: str) -> Any:
        """The value of `expression`; never None."""
        source = expression.source
        try:
            compiled = compile_expression(source)
            problems = check_roots(source)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{exc} (in {where})", expression=source, location=where) from None
        if problems:
            raise TemplateError(f"{problems[0]} (in {where})", expression=source, location=where)
        secrets = self._secrets(source, where)
        data = {
            "input": self._context.input,
            "steps": self._context.steps,
            "execution": self._context.execution,
            "secrets": secrets,
        }
        try:
            result = compiled.search(data)
        except jmespath.exceptions.JMESPathError as exc:
            # JMESPath quotes offending values in its messages; a secret must not end up there.
            reason = str(exc)
            for secret in secrets.values():
                reason = reason.replace(secret, "***") if secret else reason
            raise TemplateError(
                f"expression {source!r} in {where} failed: {reason}", expression=source, location=where
            ) from None
        if result is None:
            raise TemplateError(f"expression {source!r} in {where} yielded nothing", expression=source, location=where)
        return result

    def _secrets(self, source: str, where: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for name in sorted(secret_names(source)):
            value = self._context.secrets(name)
            if value is None:
                raise TemplateError(
                    f"expression {source!r} in {where} reads secret {name!r}, which is not set",
                    expression=source,
                    location=where,
                )
            found[name] = value
            self.secret_values.add(value)
        return found

    def _parse(self, text: str, where: str) -> Template:
        try:
            return parse_template(text)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{exc} (in {where})", location=where) from None
