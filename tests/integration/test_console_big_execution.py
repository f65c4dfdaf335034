"""The console's page of a long execution (100 steps, about 5,000 history entries): complete, and what it
leaves out it says where to find. Its speed is the bench's (`bench/harness.py`, api part).

A long execution's timeline and step list tell each lane's earlier attempts as one run, linked to the
step's own page; every attempt the API knows stays one link away, drawn and listed one by one. An
ordinary execution's page draws each attempt as before.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from bench.big_execution import FORWARD_FAILURES, STEPS, UNDO_FAILURES, BigExecution, store_big_execution
from coordinator.api import create_app
from coordinator.console.reading import HISTORY_SHOWN
from coordinator.console.runs import SUMMARISE_PAST
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.store import open_store
from saga_examples.serve import serve_asgi

FORWARD_ATTEMPTS = (STEPS - 1) * (FORWARD_FAILURES + 1) + FORWARD_FAILURES
UNDO_ATTEMPTS = (STEPS - 1) * (UNDO_FAILURES + 1)
LANES = STEPS + (STEPS - 1)
"""Every step's forward lane, and the compensation lane of each step that took effect."""

Attempted = tuple[str, str, int]
"""(step, direction, attempt number)."""
_RUN_TITLE = re.compile(r"<title>(\w+) · (action|compensation) attempts (\d+) to (\d+) · ")
_BAR_TITLE = re.compile(r"<title>(\w+) · (action|compensation) attempt (\d+) · ")


@asynccontextmanager
async def _console(tmp_path: Path, **shape: int) -> AsyncIterator[tuple[httpx.AsyncClient, BigExecution]]:
    url = f"sqlite:///{tmp_path / 'saga.db'}"
    store = await open_store(url)
    try:
        big = await store_big_execution(store, **shape)
    finally:
        await store.close()
    settings = Settings(database_url=url)
    runtime = await Runtime.open(settings)
    await runtime.start()
    try:
        async with (
            serve_asgi(create_app(settings, runtime=runtime)) as base,
            httpx.AsyncClient(base_url=base, timeout=60) as browser,
        ):
            yield browser, big
    finally:
        await runtime.close()


async def _attempts_per_api(browser: httpx.AsyncClient, execution_id: str) -> set[Attempted]:
    """Every attempt the API's history records."""
    found: set[Attempted] = set()
    params: dict[str, str | int] = {"limit": 400}
    while True:
        page = (await browser.get(f"/v1/executions/{execution_id}/events", params=params)).json()
        found |= {(e["step"], e["direction"], e["attempt"]) for e in page["items"] if e["type"] == "attempt_started"}
        if not page["next_cursor"]:
            return found
        params["cursor"] = page["next_cursor"]


def _drawn(page: str) -> set[Attempted]:
    """The attempts the timeline's bars stand for: one each, or a run's range."""
    drawn: set[Attempted] = set()
    for step, direction, first, last in _RUN_TITLE.findall(page):
        drawn |= {(step, direction, n) for n in range(int(first), int(last) + 1)}
    drawn |= {(step, direction, int(n)) for step, direction, n in _BAR_TITLE.findall(page)}
    return drawn


async def test_a_long_execution_tells_earlier_attempts_as_runs_each_one_link_away(tmp_path: Path) -> None:
    async with _console(tmp_path) as (browser, big):
        page = await browser.get(f"/ui/executions/{big.id}")
        assert page.status_code == 200, page.text[:3000]
        html = page.text
        api = await _attempts_per_api(browser, big.id)
        assert len(api) == FORWARD_ATTEMPTS + UNDO_ATTEMPTS > SUMMARISE_PAST
        # Each lane: one bar for its earlier failed attempts (a run), one for its last; together
        # they stand for exactly the attempts the API records.
        assert html.count('<g class="bar bar-forward') == 2 * STEPS
        assert html.count('<g class="bar bar-undo') == 2 * (STEPS - 1)
        assert html.count(" bar-run") == LANES
        assert _drawn(html) == api
        # Every run links to its step's page, which draws and lists each attempt of the step.
        links = set(re.findall(r'<a href="(/ui/executions/big-execution/steps/\w+)"><g class="bar', html))
        assert links == {f"/ui/executions/big-execution/steps/step_{i:03d}" for i in range(STEPS)}
        for step in ("step_000", "step_099"):
            own = (await browser.get(f"/ui/executions/{big.id}/steps/{step}")).text
            mine = {a for a in api if a[0] == step}
            assert _drawn(own) == mine and " bar-run" not in own
            assert own.count('<g class="bar ') == len(mine)
            assert own.count('<g class="gap">') == len(mine) - (2 if step == "step_000" else 1)  # a wait per retry
            listed = set(re.findall(rf'id="a-\d+-{step}-(action|compensation)-(\d+)"', own))
            assert {(step, d, int(n)) for d, n in listed} == mine
        assert (await browser.get(f"/ui/executions/{big.id}/steps/nothing")).status_code == 404
        # The step list: per lane, its earlier attempts one line (with the link), then its latest
        # attempt; each step's latest exchange in full, as the record keeps it (the API's last_attempt).
        runs = re.findall(r'<p class="attempt (forward|undo) brief run">.*? attempts 1 to (\d+) · (.*?)</p>', html)
        assert len(runs) == LANES
        assert {(lane, int(last)) for lane, last, _ in runs} == {
            ("forward", FORWARD_FAILURES),
            ("forward", FORWARD_FAILURES - 1),
            ("undo", UNDO_FAILURES),
        }
        first = html_lib.unescape(runs[0][2])
        assert first.startswith(f"HTTP 503 x{FORWARD_FAILURES} · retryable x{FORWARD_FAILURES} · took 40 ms each")
        assert "then waited 250 ms each" in first
        assert html.count('<details class="attempt') == html.count("<h4>Request</h4>") == STEPS
        assert html.count('brief" id="a-') == STEPS - 1  # the forward call's last attempt of each undone step
        assert "POST http://participant.internal:8000/step_000/undo\n" in html
        assert "POST http://participant.internal:8000/step_000\n" not in html  # on the step's page
        assert "POST http://participant.internal:8000/step_099\n" in html  # the refused call, undone by nothing
        own = (await browser.get(f"/ui/executions/{big.id}/steps/step_000")).text
        assert "POST http://participant.internal:8000/step_000\n" in own
        assert len(re.findall(r'<tr class="ev-', html)) == HISTORY_SHOWN
        assert f"show all {big.events}</a>" in html
        again = await browser.get(f"/ui/executions/{big.id}")
        assert again.text == html  # an ended execution's sections, drawn once
        everything = await browser.get(f"/ui/executions/{big.id}?history=all")
        assert len(re.findall(r'<tr class="ev-', everything.text)) == big.events


async def test_an_ordinary_execution_draws_and_lists_each_attempt(tmp_path: Path) -> None:
    async with _console(tmp_path, steps=40, forward_failures=2, undo_failures=1) as (browser, big):
        html = (await browser.get(f"/ui/executions/{big.id}")).text
        api = await _attempts_per_api(browser, big.id)
        assert len(api) == 39 * 3 + 2 + 39 * 2 <= SUMMARISE_PAST
        assert " bar-run" not in html and "brief run" not in html and "/steps/" not in html
        assert html.count('<g class="bar ') == len(api) and _drawn(html) == api
        assert html.count('<g class="gap">') == 39 * 2 + 1 + 39  # a wait before each retry
        listed = set(re.findall(r'id="a-\d+-(\w+)-(action|compensation)-(\d+)"', html))
        assert {(s, d, int(n)) for s, d, n in listed} == api
