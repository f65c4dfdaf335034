"""`/v1/executions`: read executions and their history; operator actions."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from coordinator.api.auth import ADMIN, EXECUTIONS_READ, actor_of, scope
from coordinator.api.params import (
    CURSOR_HELP,
    DEFAULT_PAGE,
    MAX_NOTE,
    MAX_PAGE,
    epoch_ms,
    known_only,
    max_wait_of,
    service_of,
    strict_fields,
    wait_seconds,
)
from coordinator.api.problems import problem_responses
from coordinator.api.schemas import (
    BulkRequest,
    BulkResponse,
    BulkResultView,
    EventList,
    ExecutionList,
    ExecutionView,
    ResolveRequest,
    event_view,
    execution_view,
)
from coordinator.core.state import ExecutionStatus
from coordinator.engine import BulkAction, BulkFilter
from coordinator.errors import InvalidInput, Problem


def _status(value: str | None) -> ExecutionStatus | None:
    if value is None:
        return None
    try:
        return ExecutionStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in ExecutionStatus)
        raise InvalidInput("invalid status filter", [Problem("status", f"must be one of {allowed}")]) from None


_LIST_FILTERS = frozenset(
    {"saga", "status", "key", "attention", "id_prefix", "created_after", "created_before", "limit", "cursor"}
)
_MAX_SEQ = 2**63 - 1


def _after_seq(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > _MAX_SEQ:
        raise InvalidInput("invalid cursor", [Problem("cursor", "not a cursor this API returned")])
    return int(cursor)


class ExecutionController(Controller):
    """Executions."""

    path = "/v1/executions"
    tags = ["executions"]

    @get(
        "/",
        summary="List executions, newest first",
        opt=scope(EXECUTIONS_READ),
        responses=problem_responses(400, 401, 403, 422, 503),
    )
    async def list_executions(
        self,
        request: Request[Any, Any, Any],
        saga: FromQuery[str | None] = None,
        status: Annotated[str | None, QueryParameter(description="running, compensating, completed, ...")] = None,
        key: Annotated[str | None, QueryParameter(description="the business key, exactly")] = None,
        attention: Annotated[
            bool, QueryParameter(description="only executions that need an operator (failed, quarantined, stalled)")
        ] = False,
        id_prefix: Annotated[str | None, QueryParameter(description="the start of the id")] = None,
        created_after: Annotated[
            str | None, QueryParameter(description="ISO 8601 time (inclusive), e.g. 2026-12-03T00:00:00Z")
        ] = None,
        created_before: Annotated[str | None, QueryParameter(description="ISO 8601 time (exclusive)")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_HELP)] = None,
    ) -> ExecutionList:
        """Keyset-paginated; pass `next_cursor` back as `cursor`. Every filter given narrows the list."""
        known_only(request.query_params.keys(), _LIST_FILTERS)
        service = service_of(request)
        page = await service.list_executions(
            saga=saga,
            status=_status(status),
            key=key,
            id_prefix=id_prefix,
            created_after_ms=epoch_ms(created_after, "created_after"),
            created_before_ms=epoch_ms(created_before, "created_before"),
            attention=attention,
            limit=limit,
            cursor=cursor or None,
            brief=True,
        )
        now = service.now_ms()
        # Specs are compiled once per saga version and cached: no query per item.
        items = [execution_view(r, now_ms=now, spec=await service.spec_of(r), brief=True) for r in page.items]
        return ExecutionList(items=items, next_cursor=page.next_cursor)

    @get(
        "/{execution_id:str}",
        summary="One execution",
        opt=scope(EXECUTIONS_READ),
        responses=problem_responses(400, 401, 403, 404, 422, 503),
    )
    async def get_execution(
        self,
        request: Request[Any, Any, Any],
        execution_id: FromPath[str],
        wait: Annotated[str | None, QueryParameter(description="e.g. 10s: answer when terminal or then")] = None,
    ) -> ExecutionView:
        """Status, steps, error and trace id; with `?wait=` a long poll until terminal."""
        service = service_of(request)
        wait_s = wait_seconds(wait, max_wait_of(request))
        if wait_s:
            record = await service.wait_terminal(execution_id, wait_s)
        else:
            record = await service.execution(execution_id)
        return execution_view(
            record, await service.output(record), now_ms=service.now_ms(), spec=await service.spec_of(record)
        )

    @get(
        "/{execution_id:str}/events",
        summary="The execution's history",
        opt=scope(EXECUTIONS_READ),
        responses=problem_responses(400, 401, 403, 404, 422, 503),
    )
    async def list_events(
        self,
        request: Request[Any, Any, Any],
        execution_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE * 2)] = DEFAULT_PAGE * 4,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_HELP)] = None,
    ) -> EventList:
        """Every attempt, response status, wait and compensation, oldest first."""
        page = await service_of(request).list_events(execution_id, after_seq=_after_seq(cursor), limit=limit)
        items = [event_view(e) for e in page.items]
        next_cursor = str(items[-1].seq) if page.next_cursor is not None and items else None
        return EventList(items=items, next_cursor=next_cursor)

    @post(
        "/{execution_id:str}/cancel",
        status_code=202,
        summary="Cancel and roll back",
        opt=scope(ADMIN),
        responses=problem_responses(401, 403, 404, 409, 503),
    )
    async def cancel(self, request: Request[Any, Any, Any], execution_id: FromPath[str]) -> ExecutionView:
        """Stop the forward phase; the calls in flight finish, then rollback. 409 when terminal or past
        the pivot (a `failed` execution stopped at a pivot whose outcome is unknown may be cancelled)."""
        service = service_of(request)
        record = await service.cancel(execution_id)
        return execution_view(record, now_ms=service.now_ms(), spec=await service.spec_of(record))

    @post(
        "/{execution_id:str}/retry",
        status_code=202,
        summary="Retry the remaining compensations",
        opt=scope(ADMIN),
        responses=problem_responses(401, 403, 404, 409, 503),
    )
    async def retry(self, request: Request[Any, Any, Any], execution_id: FromPath[str]) -> ExecutionView:
        """For a `failed` execution: compensations with a fresh retry budget, or, failed going forward
        past the pivot (`error.direction: "action"`), its failed steps with a fresh budget. 409 otherwise."""
        service = service_of(request)
        record = await service.retry(execution_id)
        return execution_view(record, now_ms=service.now_ms(), spec=await service.spec_of(record))

    @post(
        "/{execution_id:str}/resolve",
        status_code=202,
        summary="Mark a failed compensation as done by hand, and carry the rollback on",
        opt=scope(ADMIN),
        responses=problem_responses(400, 401, 403, 404, 409, 422, 503),
    )
    async def resolve(
        self, request: Request[Any, Any, Any], execution_id: FromPath[str], data: JSONBody[ResolveRequest]
    ) -> ExecutionView:
        """For a `failed` execution whose `step` is `compensation_failed`: an operator undid it by hand.

        Recorded in the history with the note and the token's name; the compensations of the steps
        before it run next. 409 where it does not apply.
        """
        problems = strict_fields(await request.json(), ResolveRequest, example='{"step": "charge", "note": "..."}')
        note = data.note.strip()
        if not note:
            problems.append(Problem("note", "say what was done by hand; it is kept in the history"))
        elif len(note) > MAX_NOTE:
            problems.append(Problem("note", f"at most {MAX_NOTE} characters"))
        if problems:
            raise InvalidInput("invalid resolve request", problems)
        service = service_of(request)
        record = await service.resolve(execution_id, data.step, note=note, actor=actor_of(request))
        return execution_view(record, now_ms=service.now_ms(), spec=await service.spec_of(record))

    @post(
        "/cancel",
        status_code=200,
        summary="Cancel every execution a filter selects (each answered on its own)",
        opt=scope(ADMIN),
        responses=problem_responses(400, 401, 403, 413, 422, 503),
    )
    async def bulk_cancel(self, request: Request[Any, Any, Any], data: JSONBody[BulkRequest]) -> BulkResponse:
        """At most `limit` (<= 1000) executions; a request with no filter at all is refused (422)."""
        return await _bulk(request, BulkAction.CANCEL, data)

    @post(
        "/retry",
        status_code=200,
        summary="Retry every failed (or quarantined) execution a filter selects (each answered on its own)",
        opt=scope(ADMIN),
        responses=problem_responses(400, 401, 403, 413, 422, 503),
    )
    async def bulk_retry(self, request: Request[Any, Any, Any], data: JSONBody[BulkRequest]) -> BulkResponse:
        """At most `limit` (<= 1000) executions; a request with no filter at all is refused (422)."""
        return await _bulk(request, BulkAction.RETRY, data)


async def _bulk(request: Request[Any, Any, Any], action: BulkAction, data: BulkRequest) -> BulkResponse:
    problems = strict_fields(await request.json(), BulkRequest, example='{"status": "failed", "saga": "checkout"}')
    if problems:
        raise InvalidInput(f"invalid bulk {action.value} request", problems)
    selection = BulkFilter(
        ids=tuple(data.ids) if data.ids is not None else None,
        saga=data.saga,
        status=_status(data.status),
        key=data.key,
        attention=data.attention,
        limit=data.limit,
    )
    report = await service_of(request).bulk(action, selection, dry_run=data.dry_run)
    return BulkResponse(
        results=[BulkResultView(id=r.id, outcome=r.outcome.value, detail=r.detail) for r in report.results],
        more=report.more,
        dry_run=report.dry_run,
    )
