"""An execution's output (SPEC section 8): the definition's `output:` template, or the last answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coordinator.core.spec import SagaSpec
from coordinator.core.state import ExecutionState, StepStatus
from coordinator.definition.templates import TemplateError, build_context, render_value


@dataclass(frozen=True, slots=True)
class OutputResult:
    """The output of an execution, or why it could not be computed (then `value` is None)."""

    value: Any = None
    error: str | None = None


def render_output(spec: SagaSpec, state: ExecutionState) -> OutputResult:
    """The output of `state`, computed from its steps' successful responses.

    With an `output:` template, the template rendered over `steps` and `execution`; an expression
    that fails or yields nothing is an `error`, never an exception. Without one, the response body
    of the last step that succeeded (None when none did). Meant for completed executions; on others
    a template may read a step that has not answered, which is reported as an error.
    """
    if spec.output is None:
        answered = [s for s in state.steps if s.status is StepStatus.SUCCEEDED and s.response is not None]
        last = answered[-1].response if answered else None
        return OutputResult(value=None if last is None else last.body)
    context = build_context(
        execution_id=state.id,
        saga=state.saga,
        version=state.version,
        input=None,  # not readable from an output: the registration refuses such templates
        responses={s.name: s.response.as_context() for s in state.steps if s.response is not None},
        secrets=_no_secret,
    )
    try:
        return OutputResult(value=render_value(spec.output, context, "output"))
    except TemplateError as error:
        return OutputResult(error=str(error))


def _no_secret(name: str) -> str | None:
    # An output is shown to every reader of the execution: it never resolves a secret.
    return None
