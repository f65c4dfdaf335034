"""The console's defences, over real HTTP: sessions, CSRF, scopes, escaping, CSP, and its error pages."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from coordinator.api import create_app
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from saga_examples.serve import serve_asgi
from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply
from tests.security.console_support import (
    ADMIN,
    READER,
    SCRIPT,
    ServedConsole,
    csrf_of,
    failed_execution,
    logged_in,
    status_of,
)


async def test_without_a_session_every_page_asks_for_the_token(served: ServedConsole) -> None:
    async with logged_in(served, None) as browser:
        for path in ("/ui/executions", "/ui/sagas", "/ui/executions/x", "/ui/executions?status=failed"):
            response = await browser.get(path)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/ui/login?next=")
        assert (await browser.get("/ui/login")).status_code == 200


async def test_the_session_cookie_is_signed_httponly_strict_and_never_the_token(served: ServedConsole) -> None:
    async with logged_in(served, None) as browser:
        form = await browser.get("/ui/login")
        response = await browser.post("/ui/login", data={"token": ADMIN, "csrf": csrf_of(form.text)})
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("saga_session=") and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
        assert ADMIN not in cookie and "Secure" not in cookie  # plain http on loopback
        value = browser.cookies["saga_session"]
        browser.cookies.set("saga_session", value[:-4] + "0000", path="/ui")  # a forged signature
        assert (await browser.get("/ui/executions")).status_code == 303
    async with logged_in(served, None, **{"X-Forwarded-Proto": "https"}) as browser:
        form = await browser.get("/ui/login")
        response = await browser.post("/ui/login", data={"token": ADMIN, "csrf": csrf_of(form.text)})
        assert "Secure" in response.headers["set-cookie"]


async def test_a_wrong_token_is_refused_without_a_session(served: ServedConsole) -> None:
    async with logged_in(served, None) as browser:
        form = await browser.get("/ui/login")
        response = await browser.post("/ui/login", data={"token": "guess", "csrf": csrf_of(form.text)})
        assert response.status_code == 401 and "saga_session" not in response.headers.get("set-cookie", "")


async def test_logout_revokes_the_session(served: ServedConsole) -> None:
    async with logged_in(served, ADMIN) as browser:
        page = await browser.get("/ui/executions")
        kept = browser.cookies["saga_session"]
        assert (await browser.post("/ui/logout", data={"csrf": csrf_of(page.text)})).status_code == 303
        browser.cookies.set("saga_session", kept, path="/ui")  # replaying the old cookie
        assert (await browser.get("/ui/executions")).status_code == 303


async def test_a_post_without_or_with_a_wrong_csrf_token_changes_nothing(served: ServedConsole) -> None:
    execution_id = await failed_execution(served)
    served.participant.script["/a/undo"].clear()  # a retry would now succeed: so it must not happen
    async with logged_in(served, ADMIN) as browser:
        confirm = await browser.get(f"/ui/executions/{execution_id}/retry")
        assert confirm.status_code == 200
        for data in ({}, {"csrf": "0" * 64}, {"csrf": csrf_of(confirm.text) + "0"}):
            response = await browser.post(f"/ui/executions/{execution_id}/retry", data=data)
            assert response.status_code == 403 and "Form refused" in response.text
        # The right field without the cookie it belongs to (a page of another browser): refused too.
        token = csrf_of(confirm.text)
        browser.cookies.delete("saga_csrf")
        response = await browser.post(f"/ui/executions/{execution_id}/retry", data={"csrf": token})
        assert response.status_code == 403
    assert await status_of(served, execution_id) == "failed"


async def test_a_forged_post_without_a_session_is_sent_to_log_in(served: ServedConsole) -> None:
    execution_id = await failed_execution(served)
    async with httpx.AsyncClient(base_url=served.url) as stranger:
        response = await stranger.post(f"/ui/executions/{execution_id}/retry", data={"csrf": "x"})
        assert response.status_code == 303 and response.headers["location"].startswith("/ui/login")
    assert await status_of(served, execution_id) == "failed"


async def test_a_read_only_token_sees_no_actions_and_cannot_post_one(served: ServedConsole) -> None:
    execution_id = await failed_execution(served)
    async with logged_in(served, READER) as reader:
        page = await reader.get(f"/ui/executions/{execution_id}")
        assert page.status_code == 200 and "read-only" in page.text
        assert "Retry…" not in page.text and f"/ui/executions/{execution_id}/retry" not in page.text
        assert (await reader.get(f"/ui/executions/{execution_id}/retry")).status_code == 403
        response = await reader.post(f"/ui/executions/{execution_id}/retry", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 403 and "lacks the admin scope" in response.text
    assert await status_of(served, execution_id) == "failed"


async def test_the_admin_retries_through_the_confirmation(served: ServedConsole) -> None:
    execution_id = await failed_execution(served)
    served.participant.script["/a/undo"].clear()
    async with logged_in(served, ADMIN) as admin:
        confirm = await admin.get(f"/ui/executions/{execution_id}/retry")
        assert "fresh retry budget" in confirm.text
        response = await admin.post(f"/ui/executions/{execution_id}/retry", data={"csrf": csrf_of(confirm.text)})
        assert response.status_code == 303 and response.headers["location"] == f"/ui/executions/{execution_id}"
        wait = await served.api.get(f"/v1/executions/{execution_id}?wait=10s")
        assert wait.json()["status"] == "compensated"
        again = await admin.post(f"/ui/executions/{execution_id}/retry", data={"csrf": csrf_of(confirm.text)})
        assert again.status_code == 409 and "only a failed execution can be retried" in again.text


async def test_the_admin_resolves_by_hand_with_a_note(served: ServedConsole) -> None:
    execution_id = await failed_execution(served)
    async with logged_in(served, ADMIN) as admin:
        confirm = await admin.get(f"/ui/executions/{execution_id}/resolve")
        assert "<option>a</option>" in confirm.text
        data = {"csrf": csrf_of(confirm.text), "step": "a", "note": "refunded in the PSP dashboard"}
        response = await admin.post(f"/ui/executions/{execution_id}/resolve", data=data)
        assert response.status_code == 303
    events = (await served.api.get(f"/v1/executions/{execution_id}/events")).json()["items"]
    resolved = [e for e in events if e["type"] == "compensation_resolved"]
    assert resolved and resolved[0]["note"] == "refunded in the PSP dashboard"
    assert resolved[0]["actor"].startswith("token:")


async def test_input_and_participant_answers_render_inert(served: ServedConsole) -> None:
    served.participant.on("/b", Reply(402, {"error": SCRIPT, "html": '<img src=x onerror="alert(1)">'}))
    definition = three_steps(served.participant.url)
    definition["description"] = SCRIPT
    await served.api.post("/v1/sagas", json=definition)
    response = await served.api.post("/v1/sagas/trip/executions?wait=10s", json={"input": {"order": SCRIPT}})
    execution_id = response.json()["id"]
    async with logged_in(served, ADMIN) as admin:
        for path in (f"/ui/executions/{execution_id}", "/ui/executions", "/ui/sagas", "/ui/sagas/trip"):
            page = await admin.get(path)
            assert page.status_code == 200, path
            assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
        page = await admin.get(f"/ui/executions/{execution_id}")
        assert "&lt;script&gt;alert(" in page.text
        assert len(re.findall(r"<script\b", page.text)) == 1  # htmx, from /ui/static, and nothing else


async def test_every_page_sends_a_strict_content_security_policy(served: ServedConsole) -> None:
    async with logged_in(served, ADMIN) as admin:
        for path in ("/ui/executions", "/ui/sagas", "/ui/executions/nope", "/ui/login", "/ui/no/such/page"):
            policy = (await admin.get(path)).headers["content-security-policy"]
            directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
            assert directives["script-src"] == "'self'", path
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
            assert directives["frame-ancestors"] == "'none'"


async def test_an_unknown_id_is_a_404_page(served: ServedConsole) -> None:
    async with logged_in(served, ADMIN) as admin:
        for path in (
            "/ui/executions/no-such-id",
            "/ui/sagas/no-such-saga",
            "/ui/nowhere",
            "/ui/executions/no-such-id/cancel",
        ):
            response = await admin.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html")
            assert "<h1>Not found</h1>" in response.text and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("status=bogus", "status", "one of running"),
        ("created_after=yesterday", "created_after", "a date and time"),
        ("created_after=2026-12-03T10:00&created_before=2026-12-03T09:00", "created_before", "must be later"),
        ("cursor=not-a-cursor", "cursor", "not a cursor"),
    ],
)
async def test_a_bad_filter_is_a_message_beside_it(served: ServedConsole, query: str, field: str, message: str) -> None:
    async with logged_in(served, ADMIN) as admin:
        response = await admin.get(f"/ui/executions?{query}")
        assert response.status_code == 400 and "Traceback" not in response.text
        assert message in response.text
        if field != "cursor":
            assert re.search(f'id="p-{field}"[^>]*>[^<]*{re.escape(message)}', response.text)


async def test_the_static_files_are_served_from_the_package(served: ServedConsole) -> None:
    async with httpx.AsyncClient(base_url=served.url) as anyone:
        htmx = await anyone.get("/ui/static/htmx.min.js")
        assert htmx.status_code == 200 and "javascript" in htmx.headers["content-type"]
        assert (await anyone.get("/ui/static/console.css")).status_code == 200


async def test_saga_ui_off_serves_no_console(tmp_path: Path) -> None:
    settings = Settings.from_env({"SAGA_UI": "off", "SAGA_DATABASE_URL": f"sqlite:///{tmp_path / 'saga.db'}"})
    assert settings.ui is False
    runtime = await Runtime.open(settings)
    try:
        async with serve_asgi(create_app(settings, runtime=runtime)) as url, httpx.AsyncClient(base_url=url) as c:
            for path in ("/ui", "/ui/executions", "/ui/static/htmx.min.js"):
                response = await c.get(path)
                assert response.status_code == 404 and response.headers["content-type"].startswith(
                    "application/problem+json"
                ), path
            assert (await c.get("/v1/executions")).status_code == 200
    finally:
        await runtime.close()


def test_console_settings_are_checked() -> None:
    assert Settings.from_env({}).ui is True
    with pytest.raises(ValueError, match="SAGA_UI must be on or off"):
        Settings.from_env({"SAGA_UI": "maybe"})
    with pytest.raises(ValueError, match=r"\{trace_id\}"):
        Settings.from_env({"SAGA_TRACE_URL": "http://jaeger:16686/trace/"})
    url = "http://jaeger:16686/trace/{trace_id}"
    assert Settings.from_env({"SAGA_TRACE_URL": url}).trace_url == url


async def test_the_list_filters_by_key_and_by_needing_attention(served: ServedConsole) -> None:
    failed = await failed_execution(served)
    served.participant.script["/b"].clear()
    served.participant.script["/a/undo"].clear()
    doc = {**three_steps(served.participant.url, name="keyed"), "key": "{{ input.order }}"}
    await served.api.post("/v1/sagas", json=doc)
    keyed = (await served.api.post("/v1/sagas/keyed/executions?wait=10s", json={"input": {"order": "ord-42"}})).json()
    async with logged_in(served, READER) as reader:
        by_key = await reader.get("/ui/executions", params={"key": "ord-42"})
        assert by_key.status_code == 200 and keyed["id"] in by_key.text and failed not in by_key.text
        attention = await reader.get("/ui/executions", params={"attention": "true"})
        assert failed in attention.text and keyed["id"] not in attention.text
