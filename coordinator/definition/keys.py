"""An execution's business key (SPEC section 8): the definition's `key:` rendered over the start input."""

from __future__ import annotations

from typing import Any

from coordinator.core.spec import SagaSpec
from coordinator.definition.templates import TemplateContext, TemplateError, render_value
from coordinator.errors import ExecutionInputInvalid, Problem

MAX_KEY_LENGTH = 200
"""Characters a rendered key may have: it is indexed, and shown in lists and logs."""


def render_key(spec: SagaSpec, input_: Any) -> str | None:
    """The business key of an execution of `spec` started with `input_`; None without a `key:`.

    Raises:
        ExecutionInputInvalid: the template fails or yields nothing, a value that is not a string or
            a number, or more than MAX_KEY_LENGTH characters; refused at start, before any call.
    """
    if spec.key is None:
        return None
    context = TemplateContext(input=input_, steps={}, execution={}, secrets=_no_secret)
    try:
        value = render_value(spec.key, context, "key")
    except TemplateError as error:
        raise _refused(f"the key template failed on this input: {error}") from None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _refused(f"the key must render to a string or a number, not {type(value).__name__}")
    key = value if isinstance(value, str) else str(value)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise _refused(f"the key must have 1 to {MAX_KEY_LENGTH} characters, not {len(key)}")
    return key


def _refused(message: str) -> ExecutionInputInvalid:
    return ExecutionInputInvalid(f"cannot compute the execution's key: {message}", [Problem("key", message)])


def _no_secret(name: str) -> str | None:
    return None  # a key is shown to every reader and logged: it never reads a secret
