"""The sagas pages: every saga, and one saga's versions, definition (YAML) and diagram."""

from __future__ import annotations

from typing import Any

import yaml
from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from coordinator.api.params import service_of
from coordinator.console.diagram import layout_diagram
from coordinator.console.pages import render
from coordinator.errors import InvalidInput, Problem

_PAGE = 100


class SagaPages(Controller):
    """`/ui/sagas`."""

    path = "/sagas"

    @get("/")
    async def sagas_page(self, request: Request[Any, Any, Any], cursor: FromQuery[str | None] = None) -> Template:
        """Every saga (its latest version), by name."""
        page = await service_of(request).list_sagas(limit=_PAGE, cursor=cursor or None)
        return render(request, "sagas.html.j2", {"sagas": page.items, "next_cursor": page.next_cursor})

    @get("/{name:str}")
    async def saga_page(
        self, request: Request[Any, Any, Any], name: FromPath[str], version: FromQuery[str | None] = None
    ) -> Template:
        """One version (the latest unless `?version=`): its definition, its diagram, and the other versions."""
        service = service_of(request)
        number = _version(version)
        definition = await service.saga(name, number)
        versions = await service.list_versions(name, limit=_PAGE)
        text = yaml.safe_dump(definition.document, sort_keys=False, allow_unicode=True, width=100)
        context = {
            "saga": definition,
            "versions": versions.items,
            "yaml": text,
            "diagram": layout_diagram(definition.document),
        }
        return render(request, "saga.html.j2", context)


def _version(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 2**31 - 1:
        raise InvalidInput("invalid version", [Problem("version", "a version number such as 3")])
    return int(text)
