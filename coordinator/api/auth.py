"""Bearer-token authentication of the `/v1` API (open when no token is configured)."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from coordinator.settings import Settings


def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Let the request through only with `Authorization: Bearer <one of SAGA_API_TOKENS>`."""
    settings: Settings = connection.app.state.settings
    if not settings.api_tokens:
        return
    scheme, _sep, presented = connection.headers.get("authorization", "").partition(" ")
    # Compare against every token, in constant time, so timing does not reveal a prefix.
    matched = False
    for token in settings.api_tokens:
        matched |= hmac.compare_digest(presented.strip().encode(), token.encode())
    if scheme.lower() != "bearer" or not matched:
        raise NotAuthorizedException(
            detail="a valid 'Authorization: Bearer <token>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
