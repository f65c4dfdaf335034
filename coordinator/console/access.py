"""Who is looking at the console, and what they may do: the API's scopes, through a session cookie."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from coordinator.api.auth import ADMIN, EXECUTIONS_READ
from coordinator.console.refusals import LoginRequired, ScopeMissing
from coordinator.console.session import SESSION_COOKIE, SessionSigner
from coordinator.settings import TokenGrant

CONSOLE_OPT = "console"
"""The router `opt` key holding the `ConsoleState`; handlers and the guard read it there."""
SCOPE_OPT = "console_scope"
"""The handler `opt` key naming the scope a page needs; None for the login and logout pages."""
_VIEWER = "console_viewer"


@dataclass(frozen=True, slots=True)
class ConsoleState:
    """What every console page needs from the settings, built once with the router."""

    signer: SessionSigner
    grants: tuple[TokenGrant, ...]
    trace_url: str | None

    @property
    def login_required(self) -> bool:
        """Whether tokens are configured (else the console is as open as the API)."""
        return bool(self.grants)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person at the browser: their token's grant, or nobody when the console is open."""

    grant: TokenGrant | None
    login_required: bool

    def may(self, scope: str) -> bool:
        """Whether this viewer holds `scope`, exactly as the API decides it."""
        if not self.login_required:
            return True
        return self.grant is not None and self.grant.allows(scope)

    @property
    def may_act(self) -> bool:
        """Whether cancel, retry and resolve are theirs (the `admin` scope)."""
        return self.may(ADMIN)

    @property
    def name(self) -> str | None:
        """The token's fingerprint, as the history names its actions."""
        return self.grant.name if self.grant is not None else None


def state_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ConsoleState:
    """The console's state, from the handler's (router's) opt."""
    state: ConsoleState = connection.route_handler.opt[CONSOLE_OPT]
    return state


def viewer_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Viewer:
    """Who is looking: set by the guard; read from the cookie on pages the guard lets anyone see."""
    viewer: Viewer | None = connection.state.get(_VIEWER)
    if viewer is None:
        viewer = _read_viewer(connection)
        connection.state[_VIEWER] = viewer
    return viewer


def _read_viewer(connection: ASGIConnection[Any, Any, Any, Any]) -> Viewer:
    console = state_of(connection)
    if not console.login_required:
        return Viewer(None, False)
    session = console.signer.check(connection.cookies.get(SESSION_COOKIE))
    return Viewer(session.grant if session else None, True)


def console_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Send a visitor without a session to the login form; refuse a page the token has no scope for."""
    needed = handler.opt.get(SCOPE_OPT, EXECUTIONS_READ)
    viewer = viewer_of(connection)
    if needed is None or viewer.may(str(needed)):
        return
    if viewer.grant is None:
        raise LoginRequired(connection.url.path + (f"?{connection.url.query}" if connection.url.query else ""))
    raise ScopeMissing(str(needed))


def page_scope(scope: str | None) -> dict[str, str | None]:
    """A handler's `opt` naming the scope its page needs (None: anyone, e.g. the login form)."""
    return {SCOPE_OPT: scope}


def safe_next(path: str | None) -> str:
    """Where to go after logging in: a console path only, never another site."""
    if path and path.startswith("/ui") and not path.startswith("//") and "\\" not in path:
        return path
    return "/ui/executions"
