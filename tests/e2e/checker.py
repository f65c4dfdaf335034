"""The invariants every fault test ends with, checked against the participant's ledger.

- every acknowledged start reaches the expected terminal state;
- completed => every forward applied exactly once, nothing compensated;
- compensated => every applied forward compensated exactly once, newest first;
- no idempotency key applied twice, or with two payload outcomes;
- attempts of one step never overlap in time (across processes too).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

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
        assert len({r["status"] for r in rs}) == 1, f"{key} answered differently: {[r['status'] for r in rs]}"
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
