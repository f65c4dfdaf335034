"""`build_console(settings)`: the console's router, static files and Jinja2 template engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Router, get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from coordinator.console import formatting
from coordinator.console.access import CONSOLE_OPT, ConsoleState, console_guard, page_scope
from coordinator.console.actions import ExecutionActions
from coordinator.console.attempt_html import attempts_html
from coordinator.console.bulk import BulkPages
from coordinator.console.errors import EXCEPTION_HANDLERS
from coordinator.console.executions import ExecutionPages
from coordinator.console.login import LoginPages
from coordinator.console.pages import SECURITY_HEADERS
from coordinator.console.refusals import PageNotFound
from coordinator.console.sagas import SagaPages
from coordinator.console.session import SessionSigner
from coordinator.console.timeline_svg import bars_svg, gaps_svg
from coordinator.settings import Settings

HERE = Path(__file__).parent
PREFIX = "/ui"


@dataclass(frozen=True, slots=True)
class Console:
    """What the app mounts: the route handlers (pages and static files) and the template engine."""

    handlers: list[Router]
    templates: TemplateConfig[JinjaTemplateEngine]


@get("/", opt=page_scope(None))
async def home() -> Redirect:
    """`/ui`: the executions list."""
    return Redirect(f"{PREFIX}/executions", headers=SECURITY_HEADERS)


@get("/{rest:path}", opt=page_scope(None))
async def unknown_page(rest: FromPath[str]) -> None:
    """Any other `/ui/...` address: the 404 page, not the API's problem JSON."""
    raise PageNotFound(f"there is no console page at /ui{rest}")


def build_console(settings: Settings) -> Console:
    """The console for these settings (its tokens, its trace link)."""
    grants = settings.token_grants()
    state = ConsoleState(signer=SessionSigner(grants), grants=grants, trace_url=settings.trace_url)
    pages = Router(
        path=PREFIX,
        route_handlers=[home, ExecutionPages, ExecutionActions, BulkPages, SagaPages, LoginPages, unknown_page],
        guards=[console_guard],
        exception_handlers=EXCEPTION_HANDLERS,
        opt={CONSOLE_OPT: state},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=f"{PREFIX}/static",
        directories=[HERE / "static"],
        cache_control=CacheControlHeader(max_age=3600),
        include_in_schema=False,
        name="console-static",
    )
    return Console(handlers=[pages, static], templates=TemplateConfig(instance=_engine()))


def _engine() -> JinjaTemplateEngine:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "svg"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        moment=formatting.moment,
        duration=formatting.duration,
        pretty=formatting.pretty,
        excerpt=formatting.excerpt,
        short_id=formatting.short_id,
    )
    environment.globals.update(attempts_html=attempts_html, timeline_gaps=gaps_svg, timeline_bars=bars_svg)
    return JinjaTemplateEngine.from_environment(environment)
