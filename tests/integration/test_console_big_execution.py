"""The console's page of a long execution (100 steps, about 5,000 history entries): complete, and what it
leaves out it says where to find. Its speed is the bench's (`bench/harness.py`, api part)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from bench.big_execution import FORWARD_FAILURES, STEPS, UNDO_FAILURES, store_big_execution
from coordinator.api import create_app
from coordinator.console.reading import HISTORY_SHOWN, exchanges_per_lane
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.store import open_store
from saga_examples.serve import serve_asgi

FORWARD_ATTEMPTS = (STEPS - 1) * (FORWARD_FAILURES + 1) + FORWARD_FAILURES
UNDO_ATTEMPTS = (STEPS - 1) * (UNDO_FAILURES + 1)
LANES = STEPS + (STEPS - 1)
"""Every step's forward lane, and the compensation lane of each step that took effect."""


async def test_a_long_execution_shows_every_attempt_and_the_latest_exchanges(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'saga.db'}"
    store = await open_store(url)
    try:
        big = await store_big_execution(store)
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
            started = time.perf_counter()
            page = await browser.get(f"/ui/executions/{big.id}")
            print(f"the page of {big.events} entries: {(time.perf_counter() - started) * 1000:.0f} ms")
            assert page.status_code == 200, page.text[:3000]
            html = page.text
            assert html.count('<g class="bar bar-forward') == FORWARD_ATTEMPTS
            assert html.count('<g class="bar bar-undo') == UNDO_ATTEMPTS
            # Every attempt is listed: the latest of each lane with its exchange (one only, on a page
            # this long), the earlier ones one line each.
            assert exchanges_per_lane(LANES) == 1
            assert html.count('<details class="attempt') == LANES
            assert html.count("<h4>Request</h4>") == LANES
            assert html.count('brief" id="a-') == FORWARD_ATTEMPTS + UNDO_ATTEMPTS - LANES
            assert html.count("Earlier attempts are one line each") == STEPS
            shown = FORWARD_FAILURES + 1  # step-000's last attempt, the only one whose exchange shows
            assert f"idempotency-key: step_000-{shown}\n" in html
            assert f"idempotency-key: step_000-{shown - 1}\n" not in html
            assert len(re.findall(r'<tr class="ev-', html)) == HISTORY_SHOWN
            assert f"show all {big.events}</a>" in html
            started = time.perf_counter()
            again = await browser.get(f"/ui/executions/{big.id}")
            print(f"again, its sections kept: {(time.perf_counter() - started) * 1000:.0f} ms")
            assert again.text == html  # an ended execution's sections, drawn once
            everything = await browser.get(f"/ui/executions/{big.id}?history=all")
            assert len(re.findall(r'<tr class="ev-', everything.text)) == big.events
    finally:
        await runtime.close()
