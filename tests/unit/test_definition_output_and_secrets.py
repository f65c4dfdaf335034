"""A definition's `output:` (checked at registration, rendered from the steps) and its secrets' presence."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.core import ExecutionState, ExecutionStatus, ResponseSnapshot, SagaSpec, StepState, StepStatus
from coordinator.definition import (
    OutputResult,
    compile_definition,
    render_output,
    secret_problems,
    spec_secret_problems,
)
from coordinator.errors import DefinitionInvalid, Problem


def document(output: Any = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": "open-account",
        "steps": [
            {"name": "create", "action": {"method": "POST", "url": "http://accounts:8001/accounts"}},
            {
                "name": "welcome",
                "action": {
                    "method": "POST",
                    "url": "http://mail:8002/messages",
                    "headers": {"Authorization": "Bearer {{ secrets.mail_key }}"},
                    "body": {"to": "{{ steps.create.response.body.email }}", "sig": "{{ secrets.sig }}"},
                },
                "compensation": {"method": "DELETE", "url": "http://mail:8002/messages/{{ secrets.mail_key }}"},
            },
        ],
    }
    if output is not None:
        found["output"] = output
    return found


def problems_of(doc: dict[str, Any], **kwargs: Any) -> list[Problem]:
    with pytest.raises(DefinitionInvalid) as caught:
        compile_definition(doc, version=1, **kwargs)
    return caught.value.problems


def state_of(*bodies: Any, status: ExecutionStatus = ExecutionStatus.COMPLETED) -> ExecutionState:
    names = ("create", "welcome")
    steps = tuple(
        StepState(name=name, status=StepStatus.SUCCEEDED, response=ResponseSnapshot(status=201, body=body))
        if body is not None
        else StepState(name=name, status=StepStatus.FAILED)
        for name, body in zip(names, bodies, strict=True)
    )
    return ExecutionState(
        id="ex-1", saga="open-account", version=1, status=status, steps=steps, created_at_ms=1, updated_at_ms=2
    )


def compiled(output: Any = None) -> SagaSpec:
    return compile_definition(document(output), version=1)


# -- output ------------------------------------------------------------------------------------


def test_output_is_carried_in_the_spec() -> None:
    template = {"account": "{{ steps.create.response.body.account }}", "saga": "{{ execution.saga }}"}
    assert compiled(template).output == template
    assert compiled().output is None


def test_output_template_renders_over_the_steps_responses() -> None:
    spec = compiled(
        {"id": "{{ steps.create.response.body.account.id }}", "sent": "{{ steps.welcome.response.status }}"}
    )
    state = state_of({"account": {"id": "acc-7"}, "email": "a@b"}, {"message": "m-1"})

    assert render_output(spec, state) == OutputResult(value={"id": "acc-7", "sent": 201})


def test_a_single_template_output_keeps_the_json_type() -> None:
    spec = compiled("{{ steps.create.response.body.account }}")
    assert render_output(spec, state_of({"account": {"id": 7}}, {})).value == {"id": 7}


def test_without_output_it_is_the_last_succeeded_steps_body() -> None:
    assert render_output(compiled(), state_of({"a": 1}, {"message": "m-1"})) == OutputResult(value={"message": "m-1"})
    failed = state_of({"a": 1}, None, status=ExecutionStatus.COMPENSATED)
    assert render_output(compiled(), failed) == OutputResult(value={"a": 1})
    nothing = state_of(None, None, status=ExecutionStatus.COMPENSATED)
    assert render_output(compiled(), nothing) == OutputResult(value=None)


def test_an_output_expression_that_yields_nothing_is_an_error_not_an_exception() -> None:
    spec = compiled("{{ steps.create.response.body.missing }}")

    result = render_output(spec, state_of({"a": 1}, {}))

    assert result.value is None
    assert result.error == "expression 'steps.create.response.body.missing' in output yielded nothing"


@pytest.mark.parametrize(
    ("output", "path", "message"),
    [
        ("{{ steps.nope.response.body }}", "output", "references unknown step 'nope'"),
        ({"a": ["{{ steps.create.respons.body }}"]}, "output.a[0]", "reads steps.create.respons: a step has only"),
        ("{{ steps.create.response.body", "output", "is not closed"),
        ("{{ input.email }}", "output", "reads input: an output may read only steps and execution"),
        ({"k": "{{ secrets.sig }}"}, "output.k", "reads secrets: an output may read only steps and execution"),
    ],
)
def test_output_mistakes_are_refused_at_registration(output: Any, path: str, message: str) -> None:
    problems = problems_of(document(output))
    assert [p.path for p in problems] == [path]
    assert message in problems[0].message


# -- secrets -----------------------------------------------------------------------------------


def test_a_secret_that_is_not_set_is_refused_naming_its_variable() -> None:
    problems = problems_of(document(), secret_exists=lambda name: name == "sig")

    assert problems == [
        Problem("steps[1].action.headers.Authorization", "secret 'mail_key' is not set: set SAGA_SECRET_MAIL_KEY"),
        Problem("steps[1].compensation.url", "secret 'mail_key' is not set: set SAGA_SECRET_MAIL_KEY"),
    ]


def test_secrets_are_not_checked_unless_asked() -> None:
    assert compile_definition(document(), version=1).name == "open-account"
    assert compile_definition(document(), version=1, secret_exists=lambda name: True).name == "open-account"


def test_the_secret_check_runs_on_its_own_for_an_offline_validate() -> None:
    assert secret_problems(document(), lambda name: False) == [
        Problem("steps[1].action.body.sig", "secret 'sig' is not set: set SAGA_SECRET_SIG"),
        Problem("steps[1].action.headers.Authorization", "secret 'mail_key' is not set: set SAGA_SECRET_MAIL_KEY"),
        Problem("steps[1].compensation.url", "secret 'mail_key' is not set: set SAGA_SECRET_MAIL_KEY"),
    ]
    broken = {"name": "x", "steps": [{"action": {"url": "{{ secrets.a", "headers": 3}}, "nope"]}
    assert secret_problems(broken, lambda name: False) == []


def test_the_secret_check_runs_on_a_compiled_spec_for_a_start() -> None:
    spec = compiled()
    assert spec_secret_problems(spec, lambda name: True) == []
    assert spec_secret_problems(spec, lambda name: name != "mail_key") == [
        Problem("steps[1].action.headers.Authorization", "secret 'mail_key' is not set: set SAGA_SECRET_MAIL_KEY"),
        Problem("steps[1].compensation.url", "secret 'mail_key' is not set: set SAGA_SECRET_MAIL_KEY"),
    ]
