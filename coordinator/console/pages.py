"""Rendering a console page: the template, what every page shows, the security headers and the CSRF cookie."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Template

from coordinator import __version__
from coordinator.console.access import state_of, viewer_of
from coordinator.console.session import CSRF_COOKIE, CSRF_FIELD

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",  # htmx from /ui/static; no inline script, no eval
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
"""Sent with every page: execution data may be sensitive, and nothing here may run foreign script."""


def render(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """The page `template` with `context`, plus the viewer, the CSRF field and the console's links."""
    console = state_of(request)
    cookie = request.cookies.get(CSRF_COOKIE)
    cookies: list[Cookie] = []
    if not cookie:
        cookie = console.signer.new_csrf_cookie()
        cookies.append(csrf_cookie(request, cookie))
    shared = {
        "viewer": viewer_of(request),
        "login_required": console.login_required,
        "csrf_field": CSRF_FIELD,
        "csrf_token": console.signer.csrf_token(cookie),
        "version": __version__,
        "path": request.url.path,
    }
    return Template(
        template_name=template,
        context={**shared, **context},
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
        cookies=cookies,
    )


def secure(request: Request[Any, Any, Any]) -> bool:
    """Whether the browser reached us over https (directly or, as the URL says, through a proxy)."""
    return request.url.scheme == "https"


def csrf_cookie(request: Request[Any, Any, Any], value: str) -> Cookie:
    """The CSRF cookie: HttpOnly and SameSite=Strict, Secure over https, for console paths only."""
    return Cookie(key=CSRF_COOKIE, value=value, path="/ui", httponly=True, samesite="strict", secure=secure(request))
