"""Bearer tokens with scopes on the `/v1` API (open when no token is configured).

Each `/v1` handler names the scope it needs in `opt={"scope": ...}`; one guard reads it. A
handler under `/v1` that names none needs `admin`, so a route added without thinking is closed,
not open. `/healthz`, `/readyz`, `/metrics` and `/schema` are outside the guarded router.

| scope               | what it allows                                                       |
|---------------------|----------------------------------------------------------------------|
| `definitions:write` | `POST /v1/sagas`                                                     |
| `executions:start`  | `POST /v1/sagas/{name}/executions`                                   |
| `executions:read`   | every `GET /v1/...`: definitions, executions, their history          |
| `admin`             | cancel, retry, resolve (one or in bulk); implies every other scope |
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from coordinator.settings import TokenGrant

SCOPE_OPT = "scope"
DEFINITIONS_WRITE = "definitions:write"
EXECUTIONS_START = "executions:start"
EXECUTIONS_READ = "executions:read"
ADMIN = "admin"


_GRANT = "grant"


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """Who is acting, for the history: the name of the caller's token; None when the API is open."""
    grant: TokenGrant | None = connection.state.get(_GRANT)
    return grant.name if grant is not None else None


def scope(name: str) -> dict[str, str]:
    """The handler `opt` naming the scope it requires."""
    return {SCOPE_OPT: name}


def _digest(token: str) -> bytes:
    # Equal-length digests: compare_digest then leaks neither a prefix nor the token's length.
    return hashlib.sha256(token.encode()).digest()


def authenticate(grants: tuple[TokenGrant, ...], authorization: str) -> TokenGrant | None:
    """The grant whose token `authorization` (`Bearer <token>`) presents, compared in constant time."""
    scheme, _sep, presented = authorization.partition(" ")
    offered = _digest(presented.strip())
    found: TokenGrant | None = None
    for grant in grants:  # no early exit: every token is compared, whichever matches
        if hmac.compare_digest(offered, _digest(grant.token)):
            found = grant
    return found if scheme.lower() == "bearer" else None


def require_scope(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """401 without a valid bearer token; 403 when the token lacks the handler's scope."""
    grants: tuple[TokenGrant, ...] = connection.app.state.grants
    if not grants:
        return
    grant = authenticate(grants, connection.headers.get("authorization", ""))
    if grant is None:
        raise NotAuthorizedException(
            detail="a valid 'Authorization: Bearer <token>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if connection.scope.get("method") == "OPTIONS":
        return  # which methods a path has is no secret (the schema is public): any valid token
    connection.state[_GRANT] = grant
    needed = str(handler.opt.get(SCOPE_OPT, ADMIN))
    if not grant.allows(needed):
        raise PermissionDeniedException(
            detail=f"this token lacks the {needed!r} scope",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
            extra={"scope": needed},
        )
