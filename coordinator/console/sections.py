"""An execution page's sections (timeline, steps, input, history), rendered once per ended revision.

They depend on the execution's revision alone, not on who looks. An execution that has ended changes
only with a new revision (an operator's retry), so its rendered sections are kept, in memory, per
(execution, revision, history shown): a long execution's page is drawn once, however many times it
is opened during an incident. A running execution's sections are drawn on each view (its in-flight
attempt runs to "now"), and its summary is read every time.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from litestar import Request
from markupsafe import Markup

from coordinator.api.params import service_of
from coordinator.console.access import state_of
from coordinator.console.reading import ExecutionSummary, read_execution, read_summary
from coordinator.ports import ExecutionRecord

CACHE_CHARACTERS = 64_000_000
"""What the kept sections may add up to (characters, about bytes): a few dozen of the longest pages."""
_CACHE = "console_sections"

SectionsKey = tuple[str, int, bool]
"""(execution id, revision, whether the whole history is shown)."""


class RenderedSections:
    """The sections of ended executions, least recently shown dropped first beyond `limit` characters."""

    def __init__(self, limit: int = CACHE_CHARACTERS) -> None:
        self._limit = limit
        self._kept: OrderedDict[SectionsKey, Markup] = OrderedDict()
        self._size = 0

    def get(self, key: SectionsKey) -> Markup | None:
        """The sections kept for `key`, if any."""
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    def put(self, key: SectionsKey, sections: Markup) -> None:
        """Keep `sections` (not when alone they exceed the limit)."""
        if len(sections) > self._limit:
            return
        old = self._kept.pop(key, None)
        self._size += len(sections) - (len(old) if old is not None else 0)
        self._kept[key] = sections
        while self._size > self._limit:
            _, dropped = self._kept.popitem(last=False)
            self._size -= len(dropped)

    def __len__(self) -> int:
        return len(self._kept)


async def execution_context(
    request: Request[Any, Any, Any],
    execution_id: str,
    *,
    record: ExecutionRecord | None = None,
    all_history: bool = False,
) -> dict[str, Any]:
    """`page` (the summary, or the whole page) and `sections` (rendered) for `_live.html.j2`.

    Raises ExecutionNotFound.
    """
    service, trace_url = service_of(request), state_of(request).trace_url
    summary: ExecutionSummary = await read_summary(service, execution_id, trace_url=trace_url, record=record)
    state = summary.record.state
    key: SectionsKey = (state.id, state.revision, all_history)
    cache = _cache(request)
    ended = state.status.is_terminal
    sections = cache.get(key) if ended else None
    if sections is None:
        page = await read_execution(
            service, execution_id, trace_url=trace_url, record=summary.record, all_history=all_history
        )
        engine = request.app.template_engine
        if engine is None:  # build_console always configures it; an app without it cannot serve the console
            raise RuntimeError("the console's template engine is missing")
        template = engine.get_template("_sections.html.j2")
        sections = Markup(template.render(page=page))  # noqa: S704 - the template escaped every value
        if ended:
            cache.put(key, sections)
    return {"page": summary, "sections": sections}


def _cache(request: Request[Any, Any, Any]) -> RenderedSections:
    """One cache per app (the service is the app's)."""
    cache: RenderedSections | None = request.app.state.get(_CACHE)
    if cache is None:
        cache = RenderedSections()
        request.app.state[_CACHE] = cache
    return cache
