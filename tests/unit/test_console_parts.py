"""The console's small parts: sessions and CSRF, filters, the saga diagram, and the commit signals."""

from __future__ import annotations

import asyncio

import pytest
from markupsafe import Markup

from coordinator.console.diagram import layout_diagram
from coordinator.console.filters import ExecutionFilter, list_arguments
from coordinator.console.sections import RenderedSections
from coordinator.console.session import SESSION_SECONDS, SessionSigner
from coordinator.core.state import ExecutionStatus
from coordinator.engine.changes import CommitSignals
from coordinator.settings import parse_token_entry

ADMIN = parse_token_entry("admin-token")
READER = parse_token_entry("reader-token:executions:read")


def test_a_session_stands_for_its_grant_until_it_expires() -> None:
    signer = SessionSigner((ADMIN, READER))
    cookie = signer.issue(READER, now=1000)
    assert "reader-token" not in cookie
    session = signer.check(cookie, now=1001)
    assert session is not None and session.grant == READER
    assert signer.check(cookie, now=1000 + SESSION_SECONDS) is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.replace(READER.name, ADMIN.name),  # claim the admin's fingerprint
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),  # touch the signature
        lambda c: c.rsplit(".", 3)[0] + ".9999999999." + ".".join(c.rsplit(".", 2)[1:]),  # extend it
        lambda c: "",
        lambda c: "a.b.c",
    ],
)
def test_a_tampered_session_is_refused(tamper: object) -> None:
    signer = SessionSigner((ADMIN, READER))
    cookie = signer.issue(READER, now=1000)
    assert signer.check(tamper(cookie), now=1001) is None  # type: ignore[operator]


def test_a_session_dies_with_its_token_and_with_logout() -> None:
    cookie = SessionSigner((ADMIN, READER)).issue(READER)
    assert SessionSigner((ADMIN, READER)).check(cookie) is not None  # another replica, same tokens
    assert SessionSigner((ADMIN,)).check(cookie) is None  # the token was removed
    signer = SessionSigner((ADMIN, READER))
    session = signer.check(cookie)
    assert session is not None
    signer.revoke(session)
    assert signer.check(cookie) is None


def test_csrf_tokens_belong_to_their_cookie() -> None:
    signer = SessionSigner((ADMIN,))
    cookie, other = signer.new_csrf_cookie(), signer.new_csrf_cookie()
    assert signer.csrf_ok(cookie, signer.csrf_token(cookie))
    assert not signer.csrf_ok(other, signer.csrf_token(cookie))
    assert not signer.csrf_ok(None, signer.csrf_token(cookie)) and not signer.csrf_ok(cookie, None)
    assert not SessionSigner((READER,)).csrf_ok(cookie, signer.csrf_token(cookie))


def test_filters_read_from_the_url_and_handed_on_in_one_place() -> None:
    view = ExecutionFilter.from_query({"saga": "trip", "status": "failed", "attention": "true", "key": "ord-1"})
    assert not view.problems and view.attention
    assert list_arguments(view) == {
        "saga": "trip",
        "status": ExecutionStatus.FAILED,
        "key": "ord-1",
        "attention": True,
        "id_prefix": None,
        "created_after_ms": None,
        "created_before_ms": None,
    }
    assert view.query(cursor="abc") == "saga=trip&status=failed&key=ord-1&attention=true&cursor=abc"
    bad = ExecutionFilter.from_query({"status": "lost", "created_after": "soon", "saga": "x" * 201})
    assert set(bad.problems) == {"status", "created_after", "saga"}
    window = ExecutionFilter.from_query({"created_after": "2026-12-03T09:00", "created_before": "2026-12-03T10:00"})
    assert window.created_before_ms is not None and window.created_after_ms is not None
    assert window.created_before_ms - window.created_after_ms == 3_600_000


def test_the_diagram_puts_each_compensation_beside_its_step() -> None:
    document = {
        "name": "trip",
        "steps": [
            {
                "name": "reserve",
                "action": {"method": "POST", "url": "http://inventory/reserve"},
                "compensation": {"method": "POST", "url": "http://inventory/release"},
            },
            {"name": "notify", "action": {"method": "POST", "url": "http://mail/send"}},
            {
                "name": "charge",
                "action": {"method": "POST", "url": "http://pay/charge"},
                "compensation": {"method": "POST", "url": "http://pay/refund"},
            },
        ],
    }
    diagram = layout_diagram(document)
    titles = [(b.title, b.css) for b in diagram.boxes]
    assert titles == [
        ("1. reserve", "box box-forward"),
        ("undo reserve", "box box-undo"),
        ("2. notify", "box box-forward"),
        ("no compensation", "box box-none"),
        ("3. charge", "box box-forward"),
        ("undo charge", "box box-undo"),
    ]
    undo_up = [a for a in diagram.arrows if a.css == "arrow arrow-undo"]
    assert len(undo_up) == 1 and undo_up[0].y1 > undo_up[0].y2  # the rollback runs upwards


async def test_commit_signals_wake_the_watchers_of_that_execution_only() -> None:
    signals: CommitSignals[int] = CommitSignals()
    async with signals.hold("a") as a, signals.hold("b") as b:
        signals.notify("a", 7)
        assert await asyncio.wait_for(a.wait(), 1) == 7
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.wait(), 0.05)
        async with signals.hold("a") as later:  # a watcher after the commit waits for the next one
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(later.wait(), 0.05)
    assert len(signals) == 0


def test_rendered_sections_drop_the_least_recently_shown_beyond_their_limit() -> None:
    kept = RenderedSections(limit=10)
    kept.put(("a", 1, False), Markup("aaaa"))
    kept.put(("b", 1, False), Markup("bbbb"))
    assert kept.get(("a", 1, False)) == "aaaa"  # now the most recent
    kept.put(("c", 1, False), Markup("cccc"))
    assert kept.get(("b", 1, False)) is None and len(kept) == 2
    assert kept.get(("a", 2, False)) is None  # another revision is another page
    kept.put(("huge", 1, False), Markup("x" * 11))
    assert kept.get(("huge", 1, False)) is None and len(kept) == 2
