"""Retry or cancel every execution the list's filter selects: a dry run says what will happen, then a
CSRF-checked POST does it to exactly the executions listed, and the page shows each one's outcome.

Only a viewer with the `admin` scope reaches these pages (the guard). The POST carries the ids the
dry run listed and the filter again: the service applies both (ANDed), so an execution that moved
on since the confirmation was shown is reported as not applicable, never acted on blindly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from coordinator.api.auth import ADMIN
from coordinator.api.params import service_of
from coordinator.console.access import page_scope, state_of
from coordinator.console.filters import ExecutionFilter
from coordinator.console.pages import render
from coordinator.console.refusals import CsrfRejected, PageNotFound
from coordinator.console.session import CSRF_COOKIE, CSRF_FIELD
from coordinator.engine import MAX_BULK, BulkAction, BulkFilter, BulkOutcome, BulkReport
from coordinator.errors import InvalidInput, Problem

IDS_FIELD = "ids"
"""The form field, repeated, naming each execution the confirmed action applies to."""


@dataclass(frozen=True, slots=True)
class BulkSummary:
    """A bulk report, grouped for a page: the executions acted on (or to be), and the rest with why."""

    action: BulkAction
    accepted: list[str]
    others: list[tuple[str, str, str]]
    """(id, outcome, detail) of every execution the action does not (or did not) apply to."""
    counts: dict[str, int]
    more: bool
    dry_run: bool

    @classmethod
    def of(cls, action: BulkAction, report: BulkReport) -> BulkSummary:
        """Group `report`'s results by outcome."""
        accepted = [r.id for r in report.results if r.outcome is BulkOutcome.ACCEPTED]
        others = [(r.id, r.outcome.value, r.detail) for r in report.results if r.outcome is not BulkOutcome.ACCEPTED]
        counts = dict(Counter(r.outcome.value for r in report.results))
        return cls(action, accepted, others, counts, report.more, report.dry_run)


class BulkPages(Controller):
    """`/ui/bulk/retry|cancel?<the list's filter>`: confirm with a dry run (GET), then act (POST)."""

    path = "/bulk"
    opt = page_scope(ADMIN)

    @get("/{action:str}")
    async def confirm(self, request: Request[Any, Any, Any], action: FromPath[str]) -> Template:
        """The dry run: which executions the action would touch, how many, and which it would not and why."""
        chosen, view = _action(action), _filter(request)
        report = await service_of(request).bulk(chosen, _selection(view), dry_run=True)
        return _page(request, view, BulkSummary.of(chosen, report))

    @post("/{action:str}", status_code=200)
    async def act(self, request: Request[Any, Any, Any], action: FromPath[str]) -> Template:
        """Apply the action to the ids the confirmation listed (still matching the filter); each id's outcome."""
        chosen, view = _action(action), _filter(request)
        form = await request.form()
        console = state_of(request)
        token = form.get(CSRF_FIELD)
        if not console.signer.csrf_ok(request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None):
            raise CsrfRejected
        ids = tuple(dict.fromkeys(i for i in form.getall(IDS_FIELD, []) if isinstance(i, str) and i))
        if len(ids) > MAX_BULK:
            raise InvalidInput("invalid bulk request", [Problem(IDS_FIELD, f"at most {MAX_BULK} executions at once")])
        if not ids:
            report = BulkReport(results=[], more=False, dry_run=False)
        else:
            report = await service_of(request).bulk(chosen, _selection(view, ids=ids), dry_run=False)
        return _page(request, view, BulkSummary.of(chosen, report))


def _page(request: Request[Any, Any, Any], view: ExecutionFilter, summary: BulkSummary) -> Template:
    context = {"filter": view, "summary": summary, "ids_field": IDS_FIELD, "max_bulk": MAX_BULK}
    return render(request, "bulk.html.j2", context)


def _action(action: str) -> BulkAction:
    try:
        return BulkAction(action)
    except ValueError:
        raise PageNotFound(f"there is no bulk action {action!r}; they are retry and cancel") from None


def _filter(request: Request[Any, Any, Any]) -> ExecutionFilter:
    """The list's filter from the URL; refused unless a bulk action can honour it exactly."""
    view = ExecutionFilter.from_query(dict(request.query_params))
    if view.problems:
        raise InvalidInput("invalid filter", [Problem(name, message) for name, message in view.problems.items()])
    if not view.bulk_ready:
        raise InvalidInput(
            "a bulk action needs a filter by saga, status, key or attention, and no other",
            [Problem("filter", "choose a saga, status, key or 'needs attention' (not an id prefix or time range)")],
        )
    return view


def _selection(view: ExecutionFilter, *, ids: tuple[str, ...] | None = None) -> BulkFilter:
    return BulkFilter(
        ids=ids,
        saga=view.saga or None,
        status=view.status_value,
        key=view.key or None,
        attention=view.attention,
        limit=len(ids) if ids else MAX_BULK,
    )
