"""The console's journeys in a real browser (Debian's chromium through Playwright), with screenshots."""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ADMIN_TOKEN, READER_TOKEN, ConsoleServer, save_shot
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply

pytestmark = pytest.mark.browser
WAIT_MS = 20_000


def _saga(server: ConsoleServer, name: str, **options: Any) -> str:
    """Register `name` on its own paths of the participant (`/<name>/a`, ...); return that base URL."""
    base = f"{server.participant.url}/{name}"
    server.register(three_steps(base, name=name, **options))
    return f"/{name}"


def _page(browser: Any, *, dark: bool = False) -> Any:
    context = browser.new_context(color_scheme="dark" if dark else "light", viewport={"width": 1280, "height": 900})
    return context.new_page()


def _login(page: Any, server: ConsoleServer, token: str, then: str = "/ui/executions") -> None:
    page.goto(server.url + then)
    page.wait_for_url(re.compile(r".*/ui/login.*"))
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(".*" + re.escape(then.split("?")[0]) + ".*"))


def _rolled_back(server: ConsoleServer) -> dict[str, Any]:
    name = f"trip-{uuid.uuid4().hex[:6]}"
    prefix = _saga(server, name)
    server.participant.on(f"{prefix}/b", Reply(503, {"error": "busy"}), Reply(402, {"error": "card declined"}))
    execution = server.start(name, {"order": "ord-42"}, wait="10s")
    assert execution["status"] == "compensated", execution
    return execution


def test_log_in_with_a_token(console_server: ConsoleServer, browser_instance: Any, shots: Path) -> None:
    page = _page(browser_instance)
    page.goto(console_server.url + "/ui/executions")
    page.wait_for_url(re.compile(r".*/ui/login\?next=.*"))
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    assert "not one this coordinator knows" in page.inner_text("#login-error")
    save_shot(page, shots, "login")
    page.fill("#token", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/executions$"))
    assert page.inner_text("h1") == "Executions"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["saga_session"]["httpOnly"] and cookies["saga_session"]["sameSite"] == "Strict"
    assert ADMIN_TOKEN not in cookies["saga_session"]["value"]
    page.click("text=Log out")
    page.wait_for_url(re.compile(r".*/ui/login$"))
    page.goto(console_server.url + "/ui/executions")
    page.wait_for_url(re.compile(r".*/ui/login\?next=.*"))


def test_from_the_list_to_a_rolled_back_execution_and_its_timeline(
    console_server: ConsoleServer, browser_instance: Any, shots: Path
) -> None:
    execution = _rolled_back(console_server)
    page = _page(browser_instance)
    _login(page, console_server, ADMIN_TOKEN)
    assert page.locator(".counts").inner_text().count("compensated") == 1
    save_shot(page, shots, "executions")
    page.click(f"a[href='/ui/executions/{execution['id']}']")
    page.wait_for_url(re.compile(f".*/ui/executions/{execution['id']}$"))
    assert page.get_attribute(".status-line .badge", "data-status") == "compensated"
    timeline = page.locator("svg.timeline")
    assert timeline.is_visible()
    assert timeline.locator(".bar-forward").count() == 3  # a, then b twice (503, 402); c never started
    assert timeline.locator(".bar-undo").count() == 1  # a's compensation, under a
    assert timeline.locator(".bar-failed").count() == 2
    assert "wait" in timeline.locator(".gap title").first.inner_html()
    assert timeline.locator(".mark-rollback").count() == 1
    trace = page.locator("dt:text('Trace') + dd a")
    assert trace.get_attribute("href") == f"http://jaeger.example:16686/trace/{execution['trace_id']}"
    first_of_b = page.locator("#step-2 details.attempt").first
    first_of_b.locator("summary").click()
    assert "503" in first_of_b.inner_text() and '"busy"' in first_of_b.locator(".exchange").inner_text()
    save_shot(page, shots, "execution-compensated")


def test_dark_mode(console_server: ConsoleServer, browser_instance: Any, shots: Path) -> None:
    execution = _rolled_back(console_server)
    page = _page(browser_instance, dark=True)
    _login(page, console_server, ADMIN_TOKEN, then=f"/ui/executions/{execution['id']}")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 150, background
    save_shot(page, shots, "execution-compensated-dark")


def test_cancel_a_running_saga_and_watch_it_roll_back_live(
    console_server: ConsoleServer, browser_instance: Any, shots: Path
) -> None:
    name = f"slow-{uuid.uuid4().hex[:6]}"
    prefix = _saga(console_server, name, timeout="60s")
    # b's call stays in flight until the cancel was submitted: with a fixed delay (3 s, once), a
    # loaded machine could finish the saga before the page and the cancel got there.
    cancelled = threading.Event()
    console_server.participant.on(f"{prefix}/b", Reply(200, {"ok": True}, held_until=cancelled))
    try:
        _cancel_and_watch(console_server, browser_instance, shots, name, cancelled)
    finally:
        cancelled.set()


def _cancel_and_watch(
    console_server: ConsoleServer, browser_instance: Any, shots: Path, name: str, cancelled: threading.Event
) -> None:
    execution = console_server.start(name, {"order": "ord-7"})
    page = _page(browser_instance)
    problems: list[str] = []
    page.on("console", lambda message: _note_error(problems, message))
    _login(page, console_server, ADMIN_TOKEN, then=f"/ui/executions/{execution['id']}")
    assert page.get_attribute(".status-line .badge", "data-status") == "running"
    page.click("text=Cancel…")
    page.wait_for_url(re.compile(".*/cancel$"))
    assert "compensated, newest first" in page.inner_text(".confirm")
    save_shot(page, shots, "confirm-cancel")
    page.click(".confirm button[type=submit]")
    page.wait_for_url(re.compile(f".*/ui/executions/{execution['id']}$"))
    page.evaluate("window.stillTheSamePage = true")
    cancelled.set()  # b's call ends now; then the rollback runs while the page watches
    page.wait_for_selector(".status-line .badge[data-status=compensated]", timeout=WAIT_MS)
    assert page.evaluate("window.stillTheSamePage === true"), "the page reloaded instead of updating live"
    assert not problems, problems  # no script error, no Content-Security-Policy violation by htmx
    assert page.locator("svg.timeline .mark-cancel").count() == 1
    assert page.locator("svg.timeline .bar-undo").count() >= 1
    save_shot(page, shots, "execution-cancelled-live")


def _note_error(problems: list[str], message: Any) -> None:
    """Keep a console error, but not chromium's own fetch of /favicon.ico (the console has none):
    it lands whenever chromium gets to it, so a page watched longer saw it and a quick one not."""
    if message.type == "error" and not str(message.location.get("url", "")).endswith("/favicon.ico"):
        problems.append(message.text)


def test_retry_a_failed_execution(console_server: ConsoleServer, browser_instance: Any, shots: Path) -> None:
    name = f"stuck-{uuid.uuid4().hex[:6]}"
    prefix = _saga(console_server, name)
    console_server.participant.on(f"{prefix}/b", Reply(400, {"error": "invalid order"}))
    console_server.participant.on(f"{prefix}/a/undo", Reply(500, {"error": "refund service down"}))
    execution = console_server.start(name, {"order": "ord-9"}, wait="10s")
    assert execution["status"] == "failed", execution
    page = _page(browser_instance)
    _login(page, console_server, ADMIN_TOKEN, then=f"/ui/executions/{execution['id']}")
    save_shot(page, shots, "execution-failed")
    console_server.participant.script[f"{prefix}/a/undo"].clear()
    console_server.participant.on(f"{prefix}/a/undo", Reply(200, {"refunded": True}))
    page.click("text=Retry…")
    page.wait_for_url(re.compile(".*/retry$"))
    assert "tried again with a fresh retry budget" in page.inner_text(".confirm")
    page.click(".confirm button[type=submit]")
    page.wait_for_url(re.compile(f".*/ui/executions/{execution['id']}$"))
    page.wait_for_selector(".status-line .badge[data-status=compensated]", timeout=WAIT_MS)
    assert page.locator("svg.timeline .mark-retry").count() == 1


def test_a_read_only_token_sees_no_buttons(console_server: ConsoleServer, browser_instance: Any, shots: Path) -> None:
    name = f"ro-{uuid.uuid4().hex[:6]}"
    prefix = _saga(console_server, name)
    console_server.participant.on(f"{prefix}/b", Reply(400, {"error": "invalid"}))
    console_server.participant.on(f"{prefix}/a/undo", Reply(500, {"error": "down"}))
    execution = console_server.start(name, {"order": "ord-1"}, wait="10s")
    assert execution["status"] == "failed"
    page = _page(browser_instance)
    _login(page, console_server, READER_TOKEN, then=f"/ui/executions/{execution['id']}")
    assert "read-only" in page.inner_text(".who")
    assert page.locator(".actions").count() == 0
    assert page.locator("text=Retry…").count() == 0
    page.goto(console_server.url + f"/ui/executions/{execution['id']}/retry")
    assert page.inner_text("h1") == "Not allowed"
    save_shot(page, shots, "read-only-refused")


def test_the_saga_page_shows_the_definition_and_its_diagram(
    console_server: ConsoleServer, browser_instance: Any, shots: Path
) -> None:
    name = f"shop-{uuid.uuid4().hex[:6]}"
    _saga(console_server, name)
    page = _page(browser_instance)
    _login(page, console_server, ADMIN_TOKEN, then="/ui/sagas")
    page.click(f"text={name}")
    page.wait_for_url(re.compile(f".*/ui/sagas/{name}$"))
    assert page.locator("svg.diagram .box-forward").count() == 3
    assert page.locator("svg.diagram .box-undo").count() == 3
    assert f"name: {name}" in page.inner_text("pre.yaml")
    save_shot(page, shots, "saga")


def test_retry_all_failed_of_a_saga_through_the_confirmation(
    console_server: ConsoleServer, browser_instance: Any, shots: Path
) -> None:
    name = f"batch-{uuid.uuid4().hex[:6]}"
    prefix = _saga(console_server, name)
    console_server.participant.on(f"{prefix}/b", Reply(400, {"error": "invalid order"}))
    console_server.participant.on(f"{prefix}/a/undo", Reply(500, {"error": "refund service down"}))
    ids = [console_server.start(name, {"order": f"ord-{n}"}, wait="10s")["id"] for n in range(3)]
    page = _page(browser_instance)
    _login(page, console_server, ADMIN_TOKEN, then=f"/ui/executions?saga={name}&status=failed")
    console_server.participant.script[f"{prefix}/a/undo"].clear()
    console_server.participant.on(f"{prefix}/a/undo", Reply(200, {"refunded": True}))
    page.click("text=Retry all matching…")
    page.wait_for_url(re.compile(".*/ui/bulk/retry\\?.*"))
    assert page.inner_text("h1") == "Retry 3 executions?"
    assert sorted(page.locator(".bulk-accepted a").all_inner_texts()) == sorted(ids)
    save_shot(page, shots, "confirm-bulk-retry")
    page.click(".confirm button[type=submit]")
    page.wait_for_selector("text=Retry: 3 accepted")
    assert page.locator(".bulk-accepted a").count() == 3
    save_shot(page, shots, "bulk-retry-done")
    for execution_id in ids:
        status = console_server.api.get(f"/v1/executions/{execution_id}?wait=10s").json()["status"]
        assert status == "compensated", execution_id
    page.goto(console_server.url + f"/ui/executions?saga={name}")
    assert page.locator(".counts").inner_text().count("compensated") == 1


def test_a_parallel_group_is_bracketed_and_the_pivot_drawn_as_a_line(
    console_server: ConsoleServer, browser_instance: Any, shots: Path
) -> None:
    name = f"shop-{uuid.uuid4().hex[:6]}"
    base = f"{console_server.participant.url}/{name}"
    a, b, c = three_steps(base, name=name)["steps"]
    pivot_step = {"name": "d", "action": dict(a["action"], url=f"{base}/d"), "pivot": True}
    console_server.register(
        {"name": name, "steps": [a, {"parallel": {"name": "pay_and_book", "steps": [b, c]}}, pivot_step]}
    )
    execution = console_server.start(name, {"order": "ord-7"}, wait="10s")
    assert execution["status"] == "completed", execution
    page = _page(browser_instance)
    _login(page, console_server, ADMIN_TOKEN, then=f"/ui/executions/{execution['id']}")
    timeline = page.locator("svg.timeline")
    band = timeline.locator(".group-band")
    assert band.count() == 1 and "b | c" in band.locator("title").inner_html()
    pivot = timeline.locator(".mark-pivot")
    assert pivot.count() == 1 and "point of no return" in (pivot.locator("text").text_content() or "")
    assert "pivot" in (timeline.locator(".pivot-label").text_content() or "")
    save_shot(page, shots, "execution-group-pivot")
