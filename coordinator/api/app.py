"""`create_app(settings)`: the Litestar application and its lifespan."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from coordinator import __version__
from coordinator.api.auth import require_scope
from coordinator.api.callbacks import CallbackController
from coordinator.api.executions import ExecutionController
from coordinator.api.health import healthz, metrics, readyz
from coordinator.api.problems import EXCEPTION_HANDLERS
from coordinator.api.sagas import SagaController
from coordinator.runtime import Runtime
from coordinator.settings import Settings
from coordinator.telemetry import Telemetry
from coordinator.telemetry.inbound import with_server_spans

log = logging.getLogger("coordinator.api")


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> Litestar:
    """The API. With `runtime`, the caller owns its start and close (tests); else the lifespan does."""
    telemetry = runtime.telemetry if runtime else Telemetry.from_env(os.environ, service_version=__version__)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own = runtime is None
        active = runtime if runtime is not None else await Runtime.open(settings, telemetry=telemetry)
        app.state.runtime = active
        try:
            if own:
                await active.start()
            yield
        finally:
            if own:
                await active.close()

    grants = settings.token_grants()  # parsed once; a malformed entry stops the app here
    v1 = Router(
        path="/",
        route_handlers=[SagaController, ExecutionController],
        guards=[require_scope],
        security=[{"bearer": []}],
    )
    # The web console at /ui (SAGA_UI=off: none). Imported here: the console imports the api's modules.
    from coordinator.console import build_console

    console = build_console(settings) if settings.ui else None
    app = Litestar(
        route_handlers=[v1, CallbackController, healthz, readyz, metrics, *(console.handlers if console else [])],
        template_config=console.templates if console else None,
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Saga coordinator",
            version=__version__,
            description="Register sagas, start executions, and watch them complete or roll back.",
            path="/schema",
            render_plugins=[YamlRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="When SAGA_API_TOKENS is set: a token holding the operation's scope "
                        "(definitions:write, executions:start, executions:read or admin).",
                    )
                }
            ),
        ),
        debug=False,
        logging_config=None,  # the host process (saga serve, tests) owns logging
    )
    # Inbound requests get server spans; a start request's span becomes the saga's parent. The
    # handler is wrapped, not the app: `create_app` still returns the Litestar app (its routes,
    # state and schema), and the span sees the response its exception handlers made of an error.
    app.asgi_handler = with_server_spans(app.asgi_handler, telemetry)
    app.state.settings = settings
    app.state.grants = grants
    return app
