"""Log in with an API token (kept only as a signed session cookie), and log out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from coordinator.api.auth import authenticate
from coordinator.console.access import page_scope, safe_next, state_of
from coordinator.console.pages import SECURITY_HEADERS, render, secure
from coordinator.console.refusals import CsrfRejected
from coordinator.console.session import CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, SESSION_SECONDS

_MAX_TOKEN = 4096


class LoginPages(Controller):
    """`/ui/login` and `/ui/logout`: open to anyone (they are how one gets in and out)."""

    path = "/"
    opt = page_scope(None)

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Template:
        """The token form."""
        return render(request, "login.html.j2", {"next": safe_next(next), "error": None})

    @post("/login", status_code=303)
    async def login(self, request: Request[Any, Any, Any]) -> Redirect | Template:
        """A valid token opens a session (HttpOnly, SameSite=Strict cookie); a wrong one is told so, nothing more."""
        form = await request.form()
        console = state_of(request)
        if not console.signer.csrf_ok(request.cookies.get(CSRF_COOKIE), _text(form.get(CSRF_FIELD))):
            raise CsrfRejected
        target = safe_next(_text(form.get("next")))
        token = _text(form.get("token")).strip()[:_MAX_TOKEN]
        grant = authenticate(console.grants, f"Bearer {token}") if token and console.grants else None
        if grant is None:
            error = "That token is not one this coordinator knows." if console.grants else "Login is not needed here."
            return render(request, "login.html.j2", {"next": target, "error": error}, status=401)
        cookie = Cookie(
            key=SESSION_COOKIE,
            value=console.signer.issue(grant),
            path="/ui",
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=secure(request),
        )
        return Redirect(target, status_code=303, cookies=[cookie], headers=SECURITY_HEADERS)

    @post("/logout", status_code=303)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        """Forget the session (and refuse its cookie here from now on), then the login form."""
        form = await request.form()
        console = state_of(request)
        if not console.signer.csrf_ok(request.cookies.get(CSRF_COOKIE), _text(form.get(CSRF_FIELD))):
            raise CsrfRejected
        session = console.signer.check(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            console.signer.revoke(session)
        gone = Cookie(
            key=SESSION_COOKIE,
            value="",
            path="/ui",
            max_age=0,
            httponly=True,
            samesite="strict",
            secure=secure(request),
        )
        return Redirect("/ui/login", status_code=303, cookies=[gone], headers=SECURITY_HEADERS)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
