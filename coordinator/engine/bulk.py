"""Operator actions over many executions at once: cancel or retry what a filter selects.

Each execution is handled on its own (one that is missing or not in a state for the action is a
result, never an error of the whole request), several at a time but a bounded number, so a bulk
retry of a thousand failed sagas does not outrun the database or the participants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from coordinator.core.state import ExecutionStatus
from coordinator.engine.collaborators import Collaborators
from coordinator.engine.operations import Operations, cancel_problem, retry_problem
from coordinator.errors import CoordinatorError, ExecutionNotFound, ExecutionStateConflict, InvalidInput, Problem
from coordinator.ports import ExecutionQuery, ExecutionRecord

MAX_BULK = 1000
"""Executions one bulk request may touch."""
CONCURRENCY = 8
"""Executions acted on at once: each is a few commits, so this bounds the database's extra load."""
_PAGE = 500


class BulkAction(StrEnum):
    """What a bulk request does to each execution it selects."""

    CANCEL = "cancel"
    RETRY = "retry"


class BulkOutcome(StrEnum):
    """What happened to one execution of a bulk request."""

    ACCEPTED = "accepted"
    """The action was applied (or, in a dry run, would be)."""
    NOT_APPLICABLE = "not_applicable"
    """The execution is not in a state for it (`detail` says why), or does not match the filter."""
    NOT_FOUND = "not_found"
    ERROR = "error"
    """Our own fault (the database was unavailable): nothing changed; asking again is safe."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkFilter:
    """Which executions a bulk action selects: `ids`, and/or the list filters; at least one is required."""

    ids: tuple[str, ...] | None = None
    saga: str | None = None
    status: ExecutionStatus | None = None
    key: str | None = None
    attention: bool = False
    limit: int = MAX_BULK

    def problems(self) -> list[Problem]:
        """Why this filter is refused: none at all (it would touch everything), or too much asked."""
        found = []
        if not (self.ids or self.saga or self.status or self.key or self.attention):
            found.append(
                Problem("$", "a bulk action needs a filter (ids, saga, status, key or attention): it never touches all")
            )
        if not 1 <= self.limit <= MAX_BULK:
            found.append(Problem("limit", f"must be between 1 and {MAX_BULK}"))
        if self.ids is not None and len(self.ids) > self.limit:
            found.append(Problem("ids", f"at most {self.limit} ids (the limit) per request"))
        return found


@dataclass(frozen=True, slots=True)
class BulkResult:
    """One execution's outcome."""

    id: str
    outcome: BulkOutcome
    detail: str


@dataclass(frozen=True, slots=True)
class BulkReport:
    """Every selected execution's outcome, and whether the filter matched more than the limit."""

    results: list[BulkResult]
    more: bool
    dry_run: bool


class BulkActions:
    """Runs one action over every execution a filter selects."""

    def __init__(self, parts: Collaborators, operations: Operations) -> None:
        self._parts = parts
        self._operations = operations

    async def run(self, action: BulkAction, selection: BulkFilter, *, dry_run: bool = False) -> BulkReport:
        """Apply `action` (or, with `dry_run`, only say what it would do) to each selected execution.

        Raises:
            InvalidInput: the filter is missing or asks for too much.
        """
        problems = selection.problems()
        if problems:
            raise InvalidInput(f"invalid bulk {action.value} request", problems)
        ids, more = await self._select(selection)
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(execution_id: str) -> BulkResult:
            async with slots:
                return await self._apply(action, execution_id, selection, dry_run)

        return BulkReport(results=list(await asyncio.gather(*map(one, ids))), more=more, dry_run=dry_run)

    async def _select(self, selection: BulkFilter) -> tuple[list[str], bool]:
        if selection.ids is not None:
            return list(dict.fromkeys(selection.ids)), False
        query = ExecutionQuery(
            saga=selection.saga,
            status=selection.status,
            key=selection.key,
            attention_at_ms=self._parts.clock.now_ms() if selection.attention else None,
        )
        ids: list[str] = []
        cursor: str | None = None
        while len(ids) <= selection.limit:
            page = await self._parts.store.list_executions(query, limit=_PAGE, cursor=cursor, brief=True)
            ids += [r.state.id for r in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return ids[: selection.limit], len(ids) > selection.limit

    async def _apply(self, action: BulkAction, execution_id: str, selection: BulkFilter, dry_run: bool) -> BulkResult:
        try:
            record = await self._parts.store.load_execution(execution_id)
            mismatch = _mismatch(record, selection, self._parts.clock.now_ms())
            if mismatch is not None:
                return BulkResult(execution_id, BulkOutcome.NOT_APPLICABLE, mismatch)
            check, act = self._action(action)
            problem = check(record)
            if problem is not None:
                return BulkResult(execution_id, BulkOutcome.NOT_APPLICABLE, problem)
            if dry_run:
                return BulkResult(execution_id, BulkOutcome.ACCEPTED, f"dry run: would {action.value}")
            await act(execution_id)
            return BulkResult(execution_id, BulkOutcome.ACCEPTED, f"{action.value} accepted")
        except ExecutionNotFound:
            return BulkResult(execution_id, BulkOutcome.NOT_FOUND, "no execution has this id")
        except ExecutionStateConflict as conflict:  # it moved between the check and the action
            return BulkResult(execution_id, BulkOutcome.NOT_APPLICABLE, str(conflict))
        except CoordinatorError as error:
            return BulkResult(execution_id, BulkOutcome.ERROR, f"not applied ({error.code}): {error}")

    def _action(
        self, action: BulkAction
    ) -> tuple[Callable[[ExecutionRecord], str | None], Callable[[str], Awaitable[ExecutionRecord]]]:
        if action is BulkAction.CANCEL:
            return cancel_problem, self._operations.cancel
        return retry_problem, self._operations.retry


def _mismatch(record: ExecutionRecord, selection: BulkFilter, now_ms: int) -> str | None:
    """Why an execution named by id does not match the rest of the filter (they combine with AND)."""
    state = record.state
    if selection.saga is not None and state.saga != selection.saga:
        return f"it belongs to saga {state.saga!r}, not {selection.saga!r}"
    if selection.status is not None and state.status is not selection.status:
        return f"it is {state.status.value}, not {selection.status.value}"
    if selection.key is not None and record.business_key != selection.key:
        return f"its key is {record.business_key!r}, not {selection.key!r}"
    if selection.attention and record.attention_reason(now_ms) is None:
        return "it does not need attention"
    return None
