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
                (r["end"], r["step"])
                for r in requests
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


def check_async_invariants(
    executions: list[dict[str, Any]], ledger: dict[str, Any], sent: list[Any], *, async_timeout_s: float
) -> None:
    """Assert the invariants of the asynchronous workload (`tests.e2e.async_workload`).

    `sent` holds every callback the test sent (`async_workload.Sent`: execution, url, outcome,
    body, error, status). Besides no overlapping calls and no key applied twice:

    - a new attempt of the async step (a new callback URL) starts only once the previous attempt's
      wait timed out, and never after a callback was accepted: never two attempts at once;
    - at most one callback is accepted (202) per execution, for its newest attempt; a repeat of it
      is 200; anything else refused (404/409);
    - nothing acknowledged is lost: an accepted `succeeded` completes the saga with the callback's
      body read by the next step; an accepted `failed` rolls back with the participant's error and
      nothing to undo for the step; no accepted callback (every wait timed out) rolls back and
      compensates the step as if it took effect; compensations run newest first.
    """
    requests = _no_overlaps(ledger)
    for ex in executions:
        eid = ex["id"]
        mine = [r for r in requests if r["execution"] == eid]
        charges = sorted((r for r in mine if r["op"] == "charge"), key=lambda r: r["start"])
        assert charges, f"{eid}: the async step was never called"
        attempts: list[tuple[str, float]] = []  # (callback URL, first call) in order
        for r in charges:
            assert r["callback_url"], f"{eid}: an async call without X-Saga-Callback-Url"
            if not attempts or attempts[-1][0] != r["callback_url"]:
                assert r["callback_url"] not in {u for u, _ in attempts}, f"{eid}: an old attempt's call came back"
                attempts.append((r["callback_url"], r["start"]))
        for (_, prev_at), (_, next_at) in itertools.pairwise(attempts):
            assert next_at - prev_at >= async_timeout_s - 0.05, (
                f"{eid}: a new attempt {next_at - prev_at:.2f} s after the previous one, before its "
                f"{async_timeout_s} s wait ended: two attempts at once"
            )
        mine_sent = [s for s in sent if s.execution == eid]
        accepted = [s for s in mine_sent if s.status == 202]
        assert len(accepted) <= 1, f"{eid}: more than one callback accepted: {accepted}"
        for s in mine_sent:
            assert s.status in (200, 202, 404, 409), f"{eid}: callback answered {s.status}"
            if s.status == 200:
                assert accepted and (s.url, s.outcome) == (accepted[0].url, accepted[0].outcome), s
        applied = {r["key"] for r in mine if r["applied"]}
        key = f"{eid}:{{}}:{{}}".format
        if accepted:
            [ok] = accepted
            assert ok.url == attempts[-1][0], f"{eid}: accepted a callback of a superseded attempt"
            assert max(r["start"] for r in charges) <= ok.at, f"{eid}: a new attempt after an accepted callback"
        if accepted and accepted[0].outcome == "succeeded":
            assert ex["status"] == "completed", ex
            assert applied == {key(s, "action") for s in ("reserve", "charge", "ship")}, (eid, sorted(applied))
            [ship] = [r for r in mine if r["op"] == "ship" and r["applied"]]
            assert ship["body"]["charge"] == accepted[0].body["charge_id"], f"{eid}: the callback's body was lost"
            continue
        assert ex["status"] == "compensated", ex
        assert not any(r["op"] == "ship" for r in mine), f"{eid}: shipped although the charge did not succeed"
        undone = ["charge", "reserve"]
        if accepted:  # the participant said no: the charge took no effect, nothing to refund
            assert accepted[0].error and accepted[0].error in ex["error"]["message"], ex["error"]
            undone = ["reserve"]
        expected = {key("reserve", "action"), key("charge", "action")} | {key(s, "compensation") for s in undone}
        assert applied == expected, (eid, sorted(applied))
        undo = sorted((r["end"], r["op"]) for r in mine if r["op"].startswith("undo-") and r["applied"])
        assert [op for _, op in undo] == [f"undo-{s}" for s in undone], f"{eid} compensated out of order: {undo}"
