"""Why a console request is refused; `errors.py` turns each into a page (never a stack trace)."""

from __future__ import annotations


class ConsoleRefusal(Exception):
    """Base of the console's own refusals."""


class LoginRequired(ConsoleRefusal):
    """No valid session: the page sends the browser to the login form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class ScopeMissing(ConsoleRefusal):
    """The session's token lacks the scope the page needs: a 403 page."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class CsrfRejected(ConsoleRefusal):
    """A POST without the form's CSRF token (forged, or from a page older than the cookie): a 403 page."""


class PageNotFound(ConsoleRefusal):
    """A console path that names nothing: a 404 page."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
