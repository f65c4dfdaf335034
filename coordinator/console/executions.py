"""The executions pages: the list with its counts and filters, one execution, and its live watch."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template

from coordinator.api.params import service_of
from coordinator.console.access import state_of
from coordinator.console.counts import StatusCounts
from coordinator.console.filters import PAGE_SIZE, ExecutionFilter, list_arguments
from coordinator.console.pages import render
from coordinator.console.reading import read_step
from coordinator.console.sections import execution_context
from coordinator.errors import InvalidInput

WATCH_SECONDS = 15.0
"""How long one live request waits for a change before answering "unchanged" (and being asked again)."""
_COUNTS = "console_counts"


class ExecutionPages(Controller):
    """`/ui/executions`."""

    path = "/executions"

    @get("/")
    async def list_page(self, request: Request[Any, Any, Any]) -> Template:
        """Newest first, with counts per status and the filters of the URL; a bad filter is a message beside it."""
        service = service_of(request)
        view = ExecutionFilter.from_query(dict(request.query_params))
        items: list[Any] = []
        next_cursor: str | None = None
        if not view.problems:
            try:
                page = await service.list_executions(
                    **list_arguments(view), limit=PAGE_SIZE, cursor=view.cursor or None, brief=True
                )
                items, next_cursor = page.items, page.next_cursor
            except InvalidInput as error:
                view.problems.update({p.path: p.message for p in error.problems} or {"cursor": error.detail})
        counts = await _counts(request)(view.saga or None)
        return render(
            request,
            "executions.html.j2",
            {"filter": view, "items": items, "next_cursor": next_cursor, "counts": counts},
            status=400 if view.problems else 200,
        )

    @get("/{execution_id:str}")
    async def execution_page(
        self, request: Request[Any, Any, Any], execution_id: FromPath[str], history: FromQuery[str | None] = None
    ) -> Template:
        """Status, timeline, steps with every attempt, and the history (`?history=all`: every entry).

        Unknown id: a 404 page.
        """
        context = await execution_context(request, execution_id, all_history=history == "all")
        return render(request, "execution.html.j2", context)

    @get("/{execution_id:str}/steps/{step:str}")
    async def step_page(
        self, request: Request[Any, Any, Any], execution_id: FromPath[str], step: FromPath[str]
    ) -> Template:
        """One step: each of its attempts drawn and listed one by one, on an axis of their own (a
        long execution's page tells a step's earlier attempts as one run and links here).

        Unknown execution or step: a 404 page.
        """
        page = await read_step(service_of(request), execution_id, step, trace_url=state_of(request).trace_url)
        return render(request, "step.html.j2", {"page": page})

    @get("/{execution_id:str}/watch")
    async def watch(
        self,
        request: Request[Any, Any, Any],
        execution_id: FromPath[str],
        after: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> Template:
        """htmx's long poll: the live part of the page once the execution moves past revision `after`.

        Woken by the engine's own commits (no query per second); unchanged after WATCH_SECONDS, it
        answers the watcher again and htmx asks once more.
        """
        service = service_of(request)
        record = await service.watch(execution_id, after, WATCH_SECONDS)
        if record is None:
            return render(request, "_watch.html.j2", {"execution_id": execution_id, "revision": after})
        context = await execution_context(request, execution_id, record=record)
        swap = {"HX-Retarget": "#live", "HX-Reswap": "outerHTML"}
        return render(request, "_live.html.j2", context, headers=swap)


def _counts(request: Request[Any, Any, Any]) -> StatusCounts:
    """One cache per app (the counts are per process; the service is the app's)."""
    counts: StatusCounts | None = request.app.state.get(_COUNTS)
    if counts is None:
        service = service_of(request)
        counts = StatusCounts(lambda saga: service.count_by_status(saga=saga))
        request.app.state[_COUNTS] = counts
    return counts
