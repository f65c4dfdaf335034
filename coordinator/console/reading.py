"""What an execution page shows, read through the service: the record, its whole history, its attempts."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from coordinator.api.schemas import EventView, ExecutionView, StepView, event_view, execution_view
from coordinator.console.attempts import Attempt, read_attempts, said
from coordinator.console.refusals import PageNotFound
from coordinator.console.runs import summarised
from coordinator.console.timeline import Timeline, layout_timeline
from coordinator.engine import SagaService
from coordinator.ports import ExecutionRecord, StoredEvent
from coordinator.telemetry import trace_id_of

HISTORY_PAGE = 5000
"""History entries per read: the bench's long execution (some 5,000) in one read, not five."""
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
    summarised: bool = False
    """A long execution's page: each lane's earlier attempts are told as one run (see runs.py), and
    each step shows its latest exchange only."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StepPage(ExecutionSummary):
    """One step of an execution on its own page: each of its attempts, drawn and listed one by one."""

    step: StepView
    attempts: list[Attempt]
    with_exchange: set[int]
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
    summarise = summarised(len(attempts))
    if summarise:  # each step's latest exchange, as its record keeps it: no read of the history's bodies
        shown = _latest_exchanges(by_step, summary.view.steps)
    else:
        shown = await _exchanges_shown(service, execution_id, list(by_step.values()))
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
            summarise=summarise,
        ),
        summarised=summarise,
    )


async def read_step(service: SagaService, execution_id: str, step: str, *, trace_url: str | None) -> StepPage:
    """One step's page: its attempts and waits on an axis of their own. Raises ExecutionNotFound,
    and PageNotFound when the execution has no step `step`."""
    summary = await read_summary(service, execution_id, trace_url=trace_url)
    state = summary.record.state
    index = next((i for i, s in enumerate(state.steps) if s.name == step), None)
    if index is None:
        raise PageNotFound(f"execution {execution_id} has no step {step!r}")
    events = await _history(service, execution_id)
    mine = [e for e in events if e.event.step == step]
    attempts = read_attempts(mine)
    shown = await _exchanges_shown(service, execution_id, [attempts])
    wakeup = state.wakeup if state.wakeup is not None and state.wakeup.step == index else None
    # The step's own time: from its first entry to its last (or its retry's due time, or now).
    start = mine[0].event.at_ms if mine else state.created_at_ms
    end = max([e.event.at_ms for e in mine] or [state.updated_at_ms])
    alone = replace(
        state,
        steps=(state.steps[index],),
        created_at_ms=start,
        updated_at_ms=end,
        wakeup=replace(wakeup, step=0) if wakeup is not None else None,
    )
    marks = [e.event for e in events if e.event.step is None and start <= e.event.at_ms <= end]
    view = summary.view.steps[index]
    return StepPage(
        record=summary.record,
        view=summary.view,
        trace_link=summary.trace_link,
        key=summary.key,
        step=view,
        attempts=attempts,
        with_exchange={id(a) for a in shown},
        timeline=layout_timeline(
            alone,
            attempts,
            [e.event for e in mine] + marks,
            now_ms=time.time_ns() // 1_000_000,
            groups={step: view.group} if view.group is not None else None,
            pivot=step if view.pivot else None,
        ),
    )


def _latest_exchanges(by_step: dict[str, list[Attempt]], steps: list[StepView]) -> list[Attempt]:
    """Each step's latest finished attempt, with the request and response the execution's record keeps
    for it (the API's `last_attempt`); a long page shows these, and a step's own page the rest."""
    shown: list[Attempt] = []
    for step in steps:
        last = step.last_attempt
        if last is None:
            continue
        attempt = next(
            (
                a
                for a in reversed(by_step.get(step.name, []))
                if a.direction.value == last.direction and a.number == last.attempt
            ),
            None,
        )
        if attempt is not None:
            attempt.request, attempt.response = last.request, last.response
            shown.append(attempt)
    return shown


async def _exchanges_shown(service: SagaService, execution_id: str, by_step: list[list[Attempt]]) -> list[Attempt]:
    """The attempts whose request and response a page shows (each lane's latest, see
    exchanges_per_lane), with what was said read into them."""
    lanes = [
        [a for a in attempts_of_step if a.direction is direction]
        for attempts_of_step in by_step
        for direction in dict.fromkeys(a.direction for a in attempts_of_step)
    ]
    per_lane = exchanges_per_lane(len(lanes))
    shown = [attempt for lane in lanes for attempt in lane[-per_lane:]]
    await _read_what_was_said(service, execution_id, shown)
    return shown


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
