"""Every refusal and error of a console request as a page: a clear message, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from coordinator.console.pages import SECURITY_HEADERS, render
from coordinator.console.refusals import CsrfRejected, LoginRequired, PageNotFound, ScopeMissing
from coordinator.errors import Conflict, CoordinatorError, InvalidInput, NotFound, StoreUnavailable

log = logging.getLogger("coordinator.console")


def _page(
    request: Request[Any, Any, Any], status: int, title: str, detail: str, problems: list[str] | None = None
) -> Response[Any]:
    return render(
        request, "error.html.j2", {"title": title, "detail": detail, "problems": problems or []}, status=status
    )


def _login(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    return Redirect("/ui/login?" + urlencode({"next": exc.next_path}), status_code=303, headers=SECURITY_HEADERS)


def _scope(request: Request[Any, Any, Any], exc: ScopeMissing) -> Response[Any]:
    return _page(request, 403, "Not allowed", f"Your token lacks the {exc.scope} scope this page needs.")


def _csrf(request: Request[Any, Any, Any], exc: CsrfRejected) -> Response[Any]:
    return _page(
        request,
        403,
        "Form refused",
        "This form did not come from this console's page (or the page is older than your session). "
        "Nothing was changed: go back, reload the page and try again.",
    )


def _not_found(request: Request[Any, Any, Any], exc: PageNotFound | NotFound) -> Response[Any]:
    return _page(request, 404, "Not found", exc.detail)


def _conflict(request: Request[Any, Any, Any], exc: Conflict) -> Response[Any]:
    return _page(request, 409, "Not possible now", exc.detail)


def _invalid(request: Request[Any, Any, Any], exc: InvalidInput) -> Response[Any]:
    return _page(request, 400, "Invalid request", exc.detail, [f"{p.path}: {p.message}" for p in exc.problems])


def _unavailable(request: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[Any]:
    return _page(request, 503, "Database unavailable", "The coordinator cannot reach its database; try again shortly.")


def _coordinator(request: Request[Any, Any, Any], exc: CoordinatorError) -> Response[Any]:
    return _page(request, 500, "Error", exc.detail)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    detail = "That address names nothing here." if exc.status_code == 404 else str(exc.detail)
    return _page(request, exc.status_code, "Not found" if exc.status_code == 404 else "Request refused", detail)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("console page %s failed", request.url.path)
    return _page(request, 500, "Something went wrong", "The coordinator logged the error; this page shows no details.")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    LoginRequired: _login,
    ScopeMissing: _scope,
    CsrfRejected: _csrf,
    PageNotFound: _not_found,
    NotFound: _not_found,
    Conflict: _conflict,
    InvalidInput: _invalid,
    StoreUnavailable: _unavailable,
    CoordinatorError: _coordinator,
    HTTPException: _http,
    Exception: _unexpected,
}
"""The console router's handlers: the most specific class that matches wins."""
