"""Parallel groups and the pivot in definitions (SPEC sections 7.1, 7.2): how they compile, and
every rule they break reported at its JSON path."""

from __future__ import annotations

from typing import Any

import pytest

from coordinator.definition import compile_definition
from coordinator.errors import DefinitionInvalid, Problem


def _step(name: str, *, compensable: bool = True, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"name": name, "action": {"method": "POST", "url": f"http://svc:80/{name}"}, **extra}
    if compensable:
        step["compensation"] = {"method": "DELETE", "url": f"http://svc:80/{name}"}
    return step


def checkout() -> dict[str, Any]:
    return {
        "name": "order-checkout",
        "steps": [
            _step("reserve"),
            {"parallel": {"name": "pay_and_book", "steps": [_step("charge"), _step("book_courier")]}},
            _step("ship", compensable=False, pivot=True),
            _step("confirm", compensable=False),
        ],
    }


def problems_of(document: dict[str, Any]) -> list[Problem]:
    with pytest.raises(DefinitionInvalid) as caught:
        compile_definition(document, version=1)
    return caught.value.problems


def test_a_group_compiles_to_members_in_definition_order_and_the_pivot_is_marked() -> None:
    spec = compile_definition(checkout(), version=1)
    assert [(s.name, s.group, s.pivot) for s in spec.steps] == [
        ("reserve", None, False),
        ("charge", "pay_and_book", False),
        ("book_courier", "pay_and_book", False),
        ("ship", None, True),
        ("confirm", None, False),
    ]
    assert spec.stages() == ((0,), (1, 2), (3,), (4,))
    assert spec.pivot_index == 3


def test_members_read_steps_before_the_group_and_later_steps_read_members() -> None:
    document = checkout()
    members = document["steps"][1]["parallel"]["steps"]
    members[0]["action"]["body"] = {"reservation": "{{ steps.reserve.response.body.id }}"}
    members[0]["compensation"]["url"] = "http://svc:80/charge/{{ steps.charge.response.body.id }}"
    document["steps"][2]["action"]["body"] = {"courier": "{{ steps.book_courier.response.body.id }}"}
    compile_definition(document, version=1)


def test_a_sibling_reference_is_refused_at_its_path() -> None:
    document = checkout()
    document["steps"][1]["parallel"]["steps"][1]["action"]["body"] = {"c": "{{ steps.charge.response.body.id }}"}
    [problem] = problems_of(document)
    assert problem.path == "steps[1].parallel.steps[1].action.body.c"
    assert "sibling" in problem.message


def test_groups_do_not_nest() -> None:
    document = checkout()
    document["steps"][1]["parallel"]["steps"].append({"parallel": {"name": "inner", "steps": [_step("x")]}})
    paths = [p.path for p in problems_of(document)]
    assert "steps[1].parallel.steps[2].parallel" in paths


def test_at_most_32_members() -> None:
    document = checkout()
    document["steps"][1]["parallel"]["steps"] = [_step(f"m{i}") for i in range(33)]
    [problem] = problems_of(document)
    assert problem.path == "steps[1].parallel.steps" and "32" in problem.message


def test_names_are_unique_among_steps_and_groups() -> None:
    document = checkout()
    document["steps"][1]["parallel"]["name"] = "reserve"
    document["steps"][3]["name"] = "charge"
    problems = {p.path: p.message for p in problems_of(document)}
    assert set(problems) == {"steps[1].parallel.name", "steps[3].name"}
    assert "steps[0]" in problems["steps[1].parallel.name"]
    assert "steps[1].parallel.steps[0]" in problems["steps[3].name"]


def test_a_second_pivot_a_pivot_in_a_group_and_compensations_past_the_pivot_are_refused() -> None:
    document = checkout()
    document["steps"][1]["parallel"]["steps"][0]["pivot"] = True
    document["steps"][3]["pivot"] = True
    document["steps"][3]["compensation"] = {"method": "DELETE", "url": "http://svc:80/confirm"}
    document["steps"][2]["compensation"] = {"method": "DELETE", "url": "http://svc:80/ship"}
    problems = {p.path: p.message for p in problems_of(document)}
    assert set(problems) == {
        "steps[1].parallel.steps[0].pivot",
        "steps[3].pivot",
        "steps[2].compensation",
        "steps[3].compensation",
    }
    assert "group" in problems["steps[1].parallel.steps[0].pivot"]
    assert "at most one pivot" in problems["steps[3].pivot"]


def test_a_bad_member_is_reported_at_its_path() -> None:
    document = checkout()
    document["steps"][1]["parallel"]["steps"][0]["action"]["retries"] = 3
    [problem] = problems_of(document)
    assert problem.path == "steps[1].parallel.steps[0].action.retries"
    assert problem.message.startswith("unknown field 'retries' (expected one of: method, url")
