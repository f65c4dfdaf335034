"""The console's bulk retry and cancel over the list's filter, over real HTTP: who sees them, the dry
run that changes nothing, the CSRF-checked POST, and each execution's outcome."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from tests.integration.sagas_for_tests import three_steps
from tests.integration.scripted_participant import Reply
from tests.security.console_support import ADMIN, READER, ServedConsole, csrf_of, logged_in, status_of


async def _failed(served: ServedConsole, saga: str, count: int) -> list[str]:
    """`count` executions of `saga` left failed: b refused, a's compensation keeps failing."""
    served.participant.on(f"/{saga}/b", Reply(400, {"error": "no"}))
    served.participant.on(f"/{saga}/a/undo", Reply(500, {"error": "down"}))
    await served.api.post("/v1/sagas", json=three_steps(f"{served.participant.url}/{saga}", name=saga))
    ids = []
    for n in range(count):
        response = await served.api.post(f"/v1/sagas/{saga}/executions?wait=10s", json={"input": {"order": f"o-{n}"}})
        assert response.json()["status"] == "failed", response.text
        ids.append(str(response.json()["id"]))
    return ids


async def _completed(served: ServedConsole, saga: str) -> str:
    await served.api.post("/v1/sagas", json=three_steps(f"{served.participant.url}/{saga}", name=saga))
    response = await served.api.post(f"/v1/sagas/{saga}/executions?wait=10s", json={"input": {"order": "fine"}})
    assert response.json()["status"] == "completed"
    return str(response.json()["id"])


def _listed(html: str, css: str) -> list[str]:
    """The execution ids linked in the block of class `css`."""
    block = re.search(rf'class="[^"]*\b{css}\b[^"]*"[^>]*>(.*?)</(?:ul|table)>', html, re.S)
    return re.findall(r'href="/ui/executions/([^"?#]+)"', block.group(1)) if block else []


async def test_an_admin_sees_bulk_buttons_for_a_filter_a_reader_does_not(served: ServedConsole) -> None:
    await _failed(served, "trip", 1)
    async with logged_in(served, ADMIN) as admin:
        page = (await admin.get("/ui/executions?saga=trip&status=failed")).text
        assert 'href="/ui/bulk/retry?saga=trip&amp;status=failed"' in page
        assert 'href="/ui/bulk/cancel?saga=trip&amp;status=failed"' in page
        unfiltered = (await admin.get("/ui/executions")).text
        assert "/ui/bulk/" not in unfiltered  # a bulk action never touches everything
        by_time = (await admin.get("/ui/executions?saga=trip&created_after=2020-01-01T00:00")).text
        assert "/ui/bulk/" not in by_time and "not by id or time" in by_time
    async with logged_in(served, READER) as reader:
        page = (await reader.get("/ui/executions?saga=trip&status=failed")).text
        assert "/ui/bulk/" not in page and "Retry all" not in page
        assert (await reader.get("/ui/bulk/retry?saga=trip&status=failed")).status_code == 403


async def test_the_dry_run_lists_what_would_be_touched_and_changes_nothing(served: ServedConsole) -> None:
    failed = await _failed(served, "trip", 3)
    other = await _failed(served, "tour", 1)
    served.participant.script["/trip/a/undo"].clear()  # a retry would now succeed: so it must not happen
    async with logged_in(served, ADMIN) as admin:
        confirm = await admin.get("/ui/bulk/retry?saga=trip&status=failed")
        assert confirm.status_code == 200
        assert "<h1>Retry 3 executions?</h1>" in confirm.text
        assert sorted(_listed(confirm.text, "bulk-accepted")) == sorted(failed)
        assert sorted(re.findall(r'name="ids" value="([^"]+)"', confirm.text)) == sorted(failed)
        assert other[0] not in confirm.text
        assert "More executions match" not in confirm.text
    for execution_id in failed:
        assert await status_of(served, execution_id) == "failed"


async def test_the_dry_run_says_which_are_left_alone_and_why(served: ServedConsole) -> None:
    [failed] = await _failed(served, "trip", 1)
    completed = await _completed(served, "calm")
    async with logged_in(served, ADMIN) as admin:
        confirm = (await admin.get("/ui/bulk/cancel?" + urlencode({"status": "completed", "saga": "calm"}))).text
        assert _listed(confirm, "bulk-accepted") == [] and _listed(confirm, "bulk-others") == [completed]
        assert "not_applicable" in confirm and "nothing to confirm" in confirm
        assert 'name="ids"' not in confirm
        retry = (await admin.get("/ui/bulk/retry?attention=true")).text
        assert failed in _listed(retry, "bulk-accepted")


async def test_the_confirmed_post_applies_it_and_shows_each_outcome(served: ServedConsole) -> None:
    failed = await _failed(served, "trip", 2)
    served.participant.script["/trip/a/undo"].clear()
    async with logged_in(served, ADMIN) as admin:
        confirm = await admin.get("/ui/bulk/retry?saga=trip&status=failed")
        form = {"csrf": csrf_of(confirm.text), "ids": [*failed, "no-such-id"]}
        done = await admin.post("/ui/bulk/retry?saga=trip&status=failed", data=form)
        assert done.status_code == 200, done.text
        assert "<h1>Retry: 2 accepted, 1 not</h1>" in done.text
        assert sorted(_listed(done.text, "bulk-accepted")) == sorted(failed)
        assert _listed(done.text, "bulk-others") == ["no-such-id"] and "not_found" in done.text
    for execution_id in failed:
        wait = await served.api.get(f"/v1/executions/{execution_id}?wait=10s")
        assert wait.json()["status"] == "compensated"
    async with logged_in(served, ADMIN) as admin:
        confirm = await admin.get("/ui/bulk/retry?saga=trip&status=failed")
        again = await admin.post(
            "/ui/bulk/retry?saga=trip&status=failed",
            data={"csrf": csrf_of(confirm.text), "ids": failed},
        )
        # They no longer match the filter (compensated, not failed): reported, not acted on.
        assert "<h1>Retry: 0 accepted, 2 not</h1>" in again.text and "it is compensated, not failed" in again.text


async def test_a_bulk_post_without_its_csrf_token_or_scope_changes_nothing(served: ServedConsole) -> None:
    failed = await _failed(served, "trip", 2)
    served.participant.script["/trip/a/undo"].clear()
    target = "/ui/bulk/retry?saga=trip&status=failed"
    forged: dict[str, str | list[str]] = {"ids": failed}
    async with logged_in(served, ADMIN) as admin:
        confirm = await admin.get(target)
        for extra in ({}, {"csrf": "0" * 64}, {"csrf": csrf_of(confirm.text) + "0"}):
            response = await admin.post(target, data={**forged, **extra})
            assert response.status_code == 403 and "Form refused" in response.text
    async with logged_in(served, READER) as reader:
        page = await reader.get("/ui/executions")
        response = await reader.post(target, data={**forged, "csrf": csrf_of(page.text)})
        assert response.status_code == 403 and "lacks the admin scope" in response.text
    async with logged_in(served, None) as stranger:
        response = await stranger.post(target, data={**forged, "csrf": "x"})
        assert response.status_code == 303 and response.headers["location"].startswith("/ui/login")
    for execution_id in failed:
        assert await status_of(served, execution_id) == "failed"


async def test_a_bulk_page_refuses_a_filter_it_cannot_honour(served: ServedConsole) -> None:
    async with logged_in(served, ADMIN) as admin:
        for query in ("", "id_prefix=abc&saga=trip", "status=bogus", "saga=trip&created_before=2030-01-01"):
            response = await admin.get(f"/ui/bulk/retry?{query}")
            assert response.status_code == 400, query
            assert "Traceback" not in response.text
        assert (await admin.get("/ui/bulk/purge?saga=trip")).status_code == 404
