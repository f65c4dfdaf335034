"""`{{ EXPR }}` templates: finding them in strings, compiling their JMESPath, and what they read.

Both the compiler (registration-time checks) and the renderer (call time) use this module, so a
template that passed registration is parsed the same way when it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jmespath
import jmespath.exceptions
import jmespath.functions

ROOTS = ("input", "steps", "execution", "secrets")
"""The names an expression may start with."""

EXECUTION_FIELDS = ("id", "saga", "version")
STEP_FIELDS = ("response",)
"""What `steps.<name>` holds."""
RESPONSE_FIELDS = ("status", "headers", "body")
"""What `steps.<name>.response` holds (plus `truncated`, present only when a body was cut)."""
_RESPONSE_FIELDS_READABLE = (*RESPONSE_FIELDS, "truncated")

_OPEN = "{{"
_CLOSE = "}}"
_QUOTES = "'\"`"
_FUNCTIONS: dict[str, Any] = jmespath.functions.Functions().FUNCTION_TABLE

# AST nodes whose first child is evaluated against the node's own input and the rest against
# what the first child produced (or its elements), so only the first child can read the root.
_LEFT_ONLY = frozenset(
    {"subexpression", "index_expression", "projection", "value_projection", "filter_projection", "pipe"}
)
# AST nodes that never read their input in place: expression references run later on elements.
_OPAQUE = frozenset({"expref", "literal", "raw_string", "index", "slice"})


class TemplateSyntaxError(ValueError):
    """A template cannot be parsed or refers to something it may not read."""


@dataclass(frozen=True, slots=True)
class Expression:
    """One `{{ ... }}`: the JMESPath text between the braces, stripped."""

    source: str


@dataclass(frozen=True, slots=True)
class Template:
    """A string split into literal text and expressions, in order."""

    parts: tuple[str | Expression, ...]

    @property
    def is_single_expression(self) -> bool:
        """Whether the string is exactly one template, so the value keeps its JSON type."""
        return len(self.parts) == 1 and isinstance(self.parts[0], Expression)

    @property
    def expressions(self) -> tuple[Expression, ...]:
        """The expressions, in order."""
        return tuple(p for p in self.parts if isinstance(p, Expression))

    @property
    def literal_text(self) -> str:
        """The text outside the templates, concatenated."""
        return "".join(p for p in self.parts if isinstance(p, str))


@dataclass(frozen=True, slots=True)
class RootReference:
    """Where an expression reads the context: `steps.reserve...` is ("steps", "reserve").

    `root` is "@" when the expression reads the whole context (`@`, `[0]`, `*`).
    `name` is the field right after the root, when there is one.
    """

    root: str
    name: str | None
    path: tuple[str, ...] = ()
    """The fields read from the root on, as far as they are plain names: ("steps", "reserve", "response")."""


def contains_template(text: str) -> bool:
    """Whether `text` has a `{{`, i.e. is meant as a template."""
    return _OPEN in text


@lru_cache(maxsize=4096)
def parse_template(text: str) -> Template:
    """Split `text` into literal parts and expressions.

    Raises:
        TemplateSyntaxError: a `{{` is never closed, or a template is empty.
    """
    parts: list[str | Expression] = []
    pos = 0
    while (start := text.find(_OPEN, pos)) != -1:
        if start > pos:
            parts.append(text[pos:start])
        end = _closing_braces(text, start + len(_OPEN))
        if end == -1:
            raise TemplateSyntaxError(f"the template starting at character {start + 1} is not closed with '}}}}'")
        source = text[start + len(_OPEN) : end].strip()
        if not source:
            raise TemplateSyntaxError(f"the template at character {start + 1} is empty")
        parts.append(Expression(source))
        pos = end + len(_CLOSE)
    if pos < len(text) or not parts:
        parts.append(text[pos:])
    return Template(tuple(parts))


def _closing_braces(text: str, pos: int) -> int:
    """Index of the `}}` closing a template whose expression starts at `pos`, or -1.

    Braces and quotes inside the expression are tracked, so `{a: {b: c}}` and `'}}'` do not end it.
    """
    depth = 0
    quote: str | None = None
    i = pos
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in _QUOTES:
            quote = char
        elif depth == 0 and text.startswith(_CLOSE, i):
            return i
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        i += 1
    return -1


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> jmespath.parser.ParsedResult:
    """The compiled JMESPath of `source`, with unknown functions and wrong arities caught early.

    Raises:
        TemplateSyntaxError: the expression does not parse or calls a function wrongly.
    """
    try:
        parsed = jmespath.compile(source)
    except jmespath.exceptions.JMESPathError as exc:
        raise TemplateSyntaxError(f"invalid expression {source!r}: {_first_line(exc)}") from None
    for name, count in _function_calls(parsed.parsed):
        _check_call(source, name, count)
    return parsed


@lru_cache(maxsize=4096)
def root_references(source: str) -> tuple[RootReference, ...]:
    """Every place where the compiled expression `source` reads the context root."""
    return tuple(_references(compile_expression(source).parsed))


def secret_names(source: str) -> frozenset[str]:
    """The secrets (`secrets.NAME`) that the expression `source` reads."""
    return frozenset(ref.name for ref in root_references(source) if ref.root == "secrets" and ref.name is not None)


def check_roots(source: str) -> list[str]:
    """Problems with what `source` reads, apart from step order (the compiler knows the steps)."""
    problems: list[str] = []
    for ref in root_references(source):
        if ref.root == "@":
            problems.append(
                f"expression {source!r} must start with one of {', '.join(ROOTS)}, not read the whole context"
            )
        elif ref.root not in ROOTS:
            problems.append(f"expression {source!r} reads {ref.root!r}: it must start with one of {', '.join(ROOTS)}")
        elif ref.root == "steps" and ref.name is None:
            problems.append(f"expression {source!r} must name a step: steps.<name>.response...")
        elif ref.root == "secrets" and ref.name is None:
            problems.append(f"expression {source!r} must name a secret: secrets.<NAME>")
        elif ref.root == "execution" and ref.name is not None and ref.name not in EXECUTION_FIELDS:
            problems.append(
                f"expression {source!r} reads execution.{ref.name}: execution has only {', '.join(EXECUTION_FIELDS)}"
            )
        elif ref.root == "steps":
            problems += _step_shape_problems(source, ref.path)
    return problems


def _step_shape_problems(source: str, path: tuple[str, ...]) -> list[str]:
    """A read of `steps.<name>...` must follow the shape `steps.<name>.response.(status|headers|body)`."""
    if len(path) >= 3 and path[2] not in STEP_FIELDS:
        return [
            f"expression {source!r} reads {'.'.join(path[:3])}: a step has only response "
            f"(steps.{path[1]}.response.status, .headers or .body)"
        ]
    if len(path) >= 4 and path[3] not in _RESPONSE_FIELDS_READABLE:
        return [
            f"expression {source!r} reads {'.'.join(path[:4])}: a response has only "
            f"{', '.join(RESPONSE_FIELDS[:-1])} and {RESPONSE_FIELDS[-1]}"
        ]
    return []


def _references(node: dict[str, Any]) -> Iterator[RootReference]:
    """Walk only the parts of the AST that are evaluated against the context root."""
    kind = node["type"]
    children: list[dict[str, Any]] = node.get("children", [])
    if kind == "field":
        yield RootReference(node["value"], None)
    elif kind in ("current", "identity"):
        yield RootReference("@", None)
    elif kind == "subexpression" and children[0]["type"] == "field":
        yield RootReference(children[0]["value"], _leading_field(children[1]), _field_chain(children))
    elif kind in _LEFT_ONLY:
        yield from _references(children[0])
    elif kind not in _OPAQUE:
        # Functions, comparisons, multi-selects, flatten...: their operands read the same input.
        for child in children:
            yield from _references(child)


def _field_chain(children: list[dict[str, Any]]) -> tuple[str, ...]:
    """The plain field names a subexpression reads in order, up to the first index, projection or call."""
    chain: list[str] = []
    for child in children:
        if child["type"] == "field":
            chain.append(str(child["value"]))
            continue
        leading = _leading_field(child)  # `items` in `items[0]`: still read by name, then the chain ends
        if leading is not None:
            chain.append(leading)
        break
    return tuple(chain)


def _leading_field(node: dict[str, Any]) -> str | None:
    """The first field `node` reads from its input: `reserve` in `reserve[0].body`."""
    if node["type"] == "field":
        return str(node["value"])
    if node["type"] in _LEFT_ONLY or node["type"] == "flatten":
        return _leading_field(node["children"][0])
    return None


def _function_calls(node: dict[str, Any]) -> Iterator[tuple[str, int]]:
    if node["type"] == "function_expression":
        yield node["value"], len(node["children"])
    for child in node.get("children", []):
        yield from _function_calls(child)


def _check_call(source: str, name: str, count: int) -> None:
    entry = _FUNCTIONS.get(name)
    if entry is None:
        raise TemplateSyntaxError(f"expression {source!r} calls unknown function {name}()")
    signature = entry["signature"]
    variadic = bool(signature) and bool(signature[-1].get("variadic"))
    if count < len(signature) or (count > len(signature) and not variadic):
        expected = f"at least {len(signature)}" if variadic else str(len(signature))
        raise TemplateSyntaxError(f"expression {source!r} calls {name}() with {count} argument(s); it takes {expected}")


def _first_line(exc: Exception) -> str:
    line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for prefix in ("Invalid jmespath expression: ", "Bad jmespath expression: ", "Invalid JMESPath expression: "):
        line = line.removeprefix(prefix)
    return line.removesuffix(", for expression:").removesuffix(":")
