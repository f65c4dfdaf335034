"""What an execution page shows, read through the service: the record, its whole history, its attempts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from coordinator.api.schemas import EventView, ExecutionView, event_view, execution_view
from coordinator.console.attempts import Attempt, read_attempts, said
from coordinator.console.timeline import Timeline, layout_timeline
from coordinator.engine import SagaService
from coordinator.ports import ExecutionRecord, StoredEvent
from coordinator.telemetry import trace_id_of

HISTORY_PAGE = 1000
HISTORY_SHOWN = 500
"""The newest history entries a page lists unless asked for all: huge histories must not freeze a tab."""
EXCHANGES_SHOWN = 3
"""The latest attempts of each step and direction whose request and response the page shows in full;
earlier ones show their status, duration and error (the API's history has their exchanges). A step
retried fifty times would otherwise make a page of megabytes."""
EXCHANGES_ON_A_PAGE = 150
"""Past this many exchanges in full (an execution of many steps, each retried), each step and
direction shows its latest exchange only: the page of 100 steps retried ten times each was 2.6 MB."""


def exchanges_per_lane(lanes: int) -> int:
    """How many of each lane's (step and direction's) latest exchanges the page shows in full."""
    return EXCHANGES_SHOWN if lanes * EXCHANGES_SHOWN <= EXCHANGES_ON_A_PAGE else 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionSummary:
    """What the top of an execution page shows: cheap, read on every view."""

    record: ExecutionRecord
    view: ExecutionView
    trace_link: str | None
    key: str | None
    """The business key, when the record has one."""

    @property
    def live(self) -> bool:
        """Whether the page should keep watching (the execution has not ended)."""
        return not self.record.state.status.is_terminal


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionPage(ExecutionSummary):
    """One execution as its whole page shows it: the summary, and what its history says."""

    history: list[EventView]
    """The newest HISTORY_SHOWN entries, oldest first (all of them when the page asked)."""
    history_total: int
    attempts_by_step: dict[str, list[Attempt]]
    with_exchange: set[int]
    """`id()` of the attempts whose request and response the page shows (see EXCHANGES_SHOWN)."""
    timeline: Timeline


async def read_summary(
    service: SagaService, execution_id: str, *, trace_url: str | None, record: ExecutionRecord | None = None
) -> ExecutionSummary:
    """The top of the page. Raises ExecutionNotFound."""
    record = record or await service.execution(execution_id)
    trace_id = trace_id_of(record.trace_context)
    return ExecutionSummary(
        record=record,
        view=execution_view(
            record, await service.output(record), now_ms=service.now_ms(), spec=await service.spec_of(record)
        ),
        trace_link=trace_url.replace("{trace_id}", trace_id) if trace_url and trace_id else None,
        key=record.business_key,
    )


async def read_execution(
    service: SagaService,
    execution_id: str,
    *,
    trace_url: str | None,
    record: ExecutionRecord | None = None,
    all_history: bool = False,
) -> ExecutionPage:
    """Everything the page shows. Raises ExecutionNotFound."""
    summary = await read_summary(service, execution_id, trace_url=trace_url, record=record)
    record = summary.record
    events = await _history(service, execution_id)
    attempts = read_attempts(events)
    by_step: dict[str, list[Attempt]] = {step.name: [] for step in record.state.steps}
    for attempt in attempts:
        by_step.setdefault(attempt.step, []).append(attempt)
    lanes = [
        [a for a in attempts_of_step if a.direction is direction]
        for attempts_of_step in by_step.values()
        for direction in {a.direction for a in attempts_of_step}
    ]
    per_lane = exchanges_per_lane(len(lanes))
    shown = [attempt for lane in lanes for attempt in lane[-per_lane:]]
    await _read_what_was_said(service, execution_id, shown)
    now_ms = time.time_ns() // 1_000_000
    return ExecutionPage(
        record=record,
        view=summary.view,
        trace_link=summary.trace_link,
        key=summary.key,
        history=[event_view(e) for e in (events if all_history else events[-HISTORY_SHOWN:])],
        history_total=len(events),
        attempts_by_step=by_step,
        with_exchange={id(a) for a in shown},
        timeline=layout_timeline(
            record.state,
            attempts,
            [e.event for e in events],
            now_ms=now_ms,
            groups={s.name: s.group for s in summary.view.steps if s.group is not None},
            pivot=next((s.name for s in summary.view.steps if s.pivot), None),
        ),
    )


async def _history(service: SagaService, execution_id: str) -> list[StoredEvent]:
    """Every entry, without what was said: reading and decoding every request and response was
    most of the time of a long execution's page, and the page shows a few of them."""
    events: list[StoredEvent] = []
    after = 0
    while True:
        page = await service.list_events(execution_id, after_seq=after, limit=HISTORY_PAGE, exchanges=False)
        events.extend(page.items)
        if page.next_cursor is None or not page.items:
            return events
        after = page.items[-1].seq


async def _read_what_was_said(service: SagaService, execution_id: str, attempts: list[Attempt]) -> None:
    """Fill in the request and response of `attempts` (those whose exchange the page shows)."""
    wanted = {a.outcome_seq: a for a in attempts if a.outcome_seq is not None}
    if not wanted:
        return
    for stored in await service.events_at(execution_id, wanted.keys()):
        said(wanted[stored.seq], stored.event)
