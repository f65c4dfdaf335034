"""The invariants every fault test ends with, checked against the participant's ledger.

- every acknowledged start reaches the expected terminal state;
- completed => every forward applied exactly once, nothing compensated;
- compensated => every applied forward compensated exactly once, newest first;
- no idempotency key applied twice, or with two payload outcomes (a "busy" 503 is none);
- attempts of one step never overlap in time (across processes too).

With a parallel group and a pivot (`check_group_invariants`), also:

- a member's compensation never starts while that member's call is in flight;
- the steps before a group are compensated only after the group's compensations succeeded;
- no compensation runs for an execution whose pivot succeeded;
- attempts of one step (either direction) never overlap in time.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from tests.e2e import group_workload as group

STEPS = ["reserve", "charge", "ship"]


def check_invariants(executions: list[dict[str, Any]], ledger: dict[str, Any]) -> None:
    """Assert every invariant; the message names the execution and key at fault."""
    requests = ledger["requests"]
    assert ledger["overlaps"] == [], f"two attempts of one step were in flight at once: {ledger['overlaps']}"
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        by_key[r["key"]].append(r)
    for key, rs in by_key.items():
        assert sum(r["applied"] for r in rs) <= 1, f"{key} applied twice"
        outcomes = {r["status"] for r in rs if not r.get("busy")}  # a 503 "busy" applied nothing
        assert len(outcomes) <= 1, f"{key} answered differently: {[r['status'] for r in rs]}"
        spans = sorted((r["start"], r["end"]) for r in rs)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"attempts of {key} overlapped in time"
    for ex in executions:
        eid = ex["id"]
        fail = ex["input"]["fail"]
        applied = {r["key"] for r in requests if r["execution"] == eid and r["applied"]}
        if fail == "none":
            assert ex["status"] == "completed", ex
            assert applied == {f"{eid}:{s}:action" for s in STEPS}, (eid, applied)
        else:
            assert ex["status"] == "compensated", ex
            failed_at = STEPS.index(fail)
            done = STEPS[:failed_at]
            expected = {f"{eid}:{s}:action" for s in done} | {f"{eid}:{s}:compensation" for s in done}
            assert applied == expected, (eid, applied)
            undo = sorted(
                (r["end"], r["step"]) for r in requests
                if r["execution"] == eid and r["op"].startswith("undo-") and r["applied"]
            )
            assert [s for _, s in undo] == list(reversed(done)), f"{eid} compensated out of order: {undo}"


def _no_overlaps(ledger: dict[str, Any]) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = ledger["requests"]
    assert ledger["overlaps"] == [], f"two attempts of one step were in flight at once: {ledger['overlaps']}"
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        by_key[r["key"]].append(r)
    for key, rs in by_key.items():
        assert sum(r["applied"] for r in rs) <= 1, f"{key} applied twice"
        outcomes = {r["status"] for r in rs if not r.get("busy")}  # a 503 "busy" applied nothing
        assert len(outcomes) <= 1, f"{key} answered differently: {[r['status'] for r in rs]}"
        spans = sorted((r["start"], r["end"]) for r in rs)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"attempts of {key} overlapped in time"
    return requests


def check_group_invariants(executions: list[dict[str, Any]], ledger: dict[str, Any]) -> None:
    """Assert every invariant of the group workload (`tests.e2e.group_workload`)."""
    requests = _no_overlaps(ledger)
    for ex in executions:
        eid = ex["id"]
        fail = ex["input"]["fail"]
        mine = [r for r in requests if r["execution"] == eid]
        applied = {r["key"] for r in mine if r["applied"]}
        undos = [r for r in mine if r["op"].startswith("undo-")]
        if fail == "none":
            assert ex["status"] == "completed", ex
            assert applied == {f"{eid}:{s}:action" for s in group.STEPS}, (eid, applied)
            assert undos == [], f"{eid}: a compensation ran although the pivot succeeded: {undos}"
            continue
        assert ex["status"] == "compensated", ex
        done = [*group.BEFORE, *group.MEMBERS] if fail == "pack" else [*group.BEFORE, "book"]
        expected = {f"{eid}:{s}:action" for s in done} | {f"{eid}:{s}:compensation" for s in done}
        assert applied == expected, (eid, sorted(applied))
        assert not any(r["step"] in (group.PIVOT, *group.PAST_PIVOT) for r in mine), f"{eid} passed the pivot"
        for step in group.COMPENSABLE:
            forward_end = max((r["end"] for r in mine if r["op"] == step), default=None)
            first_undo = min((r["start"] for r in mine if r["op"] == f"undo-{step}"), default=None)
            if forward_end is not None and first_undo is not None:
                assert first_undo >= forward_end, f"{eid}: {step} compensated while its call was in flight"
        member_undone = [r["end"] for r in undos if r["step"] in group.MEMBERS and r["applied"]]
        before_undo = [r["start"] for r in undos if r["step"] in group.BEFORE]
        assert member_undone and before_undo
        assert min(before_undo) >= max(member_undone), f"{eid}: reserve compensated before the group's"
        if fail == "pack":
            undo_pack = [r for r in undos if r["step"] == "pack"]
            assert undo_pack == [], f"{eid}: pack never took effect, yet it was compensated"
