"""The fault suite's group saga: reserve, then [charge | book] together, then pack, then ship (the
pivot), then notify; every step on the ledger participant. `input.fail` names the step that says
no (409): `pack` rolls the group back concurrently, then reserve; `charge` fails fast."""

from __future__ import annotations

import httpx

BEFORE = ["reserve"]
MEMBERS = ["charge", "book"]
AFTER_GROUP = ["pack"]
PIVOT = "ship"
PAST_PIVOT = ["notify"]
STEPS = [*BEFORE, *MEMBERS, *AFTER_GROUP, PIVOT, *PAST_PIVOT]
COMPENSABLE = [*BEFORE, *MEMBERS, *AFTER_GROUP]
FAILS = ("none", "pack", "charge")
"""What the workload asks to fail: nothing, the step after the group, or a member."""


def _step(url: str, name: str, *, indent: str, undo: bool, pivot: bool = False) -> str:
    text = (
        f"\n{indent}- name: {name}"
        + (f"\n{indent}  pivot: true" if pivot else "")
        + f'\n{indent}  action: {{method: POST, url: "{url}/op/{name}", timeout: 5s,'
        f' body: {{fail: "{{{{ input.fail }}}}", order: "{{{{ input.order }}}}"}}}}'
        f"\n{indent}  retry: {{max_attempts: 3, initial_interval: 100ms, jitter: none}}"
    )
    if undo:
        text += f'\n{indent}  compensation: {{method: DELETE, url: "{url}/op/undo-{name}"}}'
    return text


def group_definition(participant_url: str) -> str:
    """The definition, as YAML, for `saga serve --sagas-dir`."""
    members = "".join(_step(participant_url, m, indent="        ", undo=True) for m in MEMBERS)
    return (
        "name: group-crash-test\ndescription: a parallel group and a pivot\nsteps:"
        + _step(participant_url, "reserve", indent="  ", undo=True)
        + "\n  - parallel:\n      name: pay_and_book\n      steps:"
        + members
        + _step(participant_url, "pack", indent="  ", undo=True)
        + _step(participant_url, PIVOT, indent="  ", undo=False, pivot=True)
        + "".join(_step(participant_url, s, indent="  ", undo=False) for s in PAST_PIVOT)
        + "\n"
    )


def start_group_sagas(url: str, count: int) -> list[str]:
    """Start `count` executions cycling through FAILS; return their ids."""
    ids = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(count):
            body = {"input": {"fail": FAILS[i % len(FAILS)], "order": f"g{i}"}}
            r = client.post("/v1/sagas/group-crash-test/executions", json=body)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
    return ids
