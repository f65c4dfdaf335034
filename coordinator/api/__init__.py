"""The HTTP API (Litestar): `create_app(settings)`."""

from coordinator.api.app import create_app

__all__ = ["create_app"]
