"""`/v1/sagas`: register, list and read definitions; start executions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, HttpMethod, Request, Response, get, post, route
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, HeaderParameter, JSONBody, Parameter, QueryParameter

from coordinator.api.auth import DEFINITIONS_WRITE, EXECUTIONS_READ, EXECUTIONS_START, scope
from coordinator.api.params import (
    CURSOR_HELP,
    DEFAULT_PAGE,
    MAX_PAGE,
    MAX_VERSION,
    checked_depth,
    checked_idempotency_key,
    checked_version,
    max_wait_of,
    service_of,
    strict_fields,
    wait_seconds,
)
from coordinator.api.problems import problem_responses
from coordinator.api.schemas import ExecutionView, SagaList, SagaRef, SagaView, StartRequest, execution_view, saga_view
from coordinator.definition import parse_document
from coordinator.errors import InvalidInput
from coordinator.telemetry.inbound import saga_parent


@dataclass
class _DefinitionBody(Operation):
    """OpenAPI for a raw JSON-or-YAML body, which Litestar cannot infer from `request.body()`."""

    def __post_init__(self) -> None:
        description = "A saga definition (see the README's definition format)."
        self.request_body = RequestBody(
            required=True,
            content={
                media: OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT, description=description))
                for media in ("application/json", "application/yaml")
            },
        )


class SagaController(Controller):
    """Saga definitions."""

    path = "/v1/sagas"
    tags = ["sagas"]

    @route("/", http_method=[HttpMethod.OPTIONS], include_in_schema=False)
    async def allowed_methods(self) -> Response[None]:
        """The methods of `/v1/sagas`.

        Litestar's generated OPTIONS answer lists the methods of only the first of the handlers
        that share a path (here GET and POST), so this path answers OPTIONS itself. Litestar
        registers a controller's handlers in the order of their names: this one must sort first,
        or the generated answer is made before it and wins.
        """
        return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})

    @post(
        "/",
        status_code=201,
        operation_class=_DefinitionBody,
        summary="Register a saga definition",
        opt=scope(DEFINITIONS_WRITE),
        responses={
            200: ResponseSpec(SagaRef, description="The same body was already registered"),
            **problem_responses(400, 401, 403, 409, 413, 422, 503),
        },
    )
    async def register(self, request: Request[Any, Any, Any]) -> Response[SagaRef]:
        """Register a definition (JSON or YAML by Content-Type). 201 when new, 200 when unchanged."""
        document = parse_document(await request.body(), request.headers.get("content-type"))
        stored, created = await service_of(request).register(document)
        return Response(
            SagaRef(name=stored.name, version=stored.version, created=created),
            status_code=201 if created else 200,
        )

    @get(
        "/",
        summary="List sagas (latest version of each)",
        opt=scope(EXECUTIONS_READ),
        responses=problem_responses(400, 401, 403, 422, 503),
    )
    async def list_sagas(
        self,
        request: Request[Any, Any, Any],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_HELP)] = None,
    ) -> SagaList:
        """The latest version of every saga, by name."""
        page = await service_of(request).list_sagas(limit=limit, cursor=cursor or None)
        return SagaList(items=[saga_view(d) for d in page.items], next_cursor=page.next_cursor)

    @get(
        "/{name:str}",
        summary="The latest version of a saga",
        opt=scope(EXECUTIONS_READ),
        responses=problem_responses(401, 403, 404, 503),
    )
    async def get_saga(self, request: Request[Any, Any, Any], name: FromPath[str]) -> SagaView:
        """The latest version."""
        return saga_view(await service_of(request).saga(name))

    @get(
        "/{name:str}/versions",
        summary="Every version of a saga",
        opt=scope(EXECUTIONS_READ),
        responses=problem_responses(400, 401, 403, 404, 422, 503),
    )
    async def list_versions(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_HELP)] = None,
    ) -> SagaList:
        """Versions, newest first."""
        page = await service_of(request).list_versions(name, limit=limit, cursor=cursor or None)
        return SagaList(items=[saga_view(d) for d in page.items], next_cursor=page.next_cursor)

    @get(
        "/{name:str}/versions/{version:int}",
        summary="One version of a saga",
        opt=scope(EXECUTIONS_READ),
        responses=problem_responses(400, 401, 403, 404, 503),
    )
    async def get_version(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        version: Annotated[int, Parameter(ge=1, le=MAX_VERSION)],
    ) -> SagaView:
        """One version."""
        return saga_view(await service_of(request).saga(name, version))

    @post(
        "/{name:str}/executions",
        status_code=201,
        summary="Start an execution",
        opt=scope(EXECUTIONS_START),
        responses={
            200: ResponseSpec(ExecutionView, description="The Idempotency-Key names an existing execution"),
            **problem_responses(400, 401, 403, 404, 409, 413, 422, 503),
        },
    )
    async def start(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        data: JSONBody[StartRequest],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
        wait: Annotated[str | None, QueryParameter(description="e.g. 10s: answer when terminal or then")] = None,
    ) -> Response[ExecutionView]:
        """Start `name`. 201 when new; 200 when the Idempotency-Key names an existing execution."""
        problems = strict_fields(await request.json(), StartRequest, example='{"input": {...}, "version": 3}')
        if problems:
            raise InvalidInput('a start body is {input, version?}: the saga\'s input goes inside "input"', problems)
        service = service_of(request)
        wait_s = wait_seconds(wait, max_wait_of(request))
        trace_headers = _trace_parent(request)
        record, created = await service.start(
            name,
            checked_depth(data.input, "input"),
            version=checked_version(data.version),
            idempotency_key=checked_idempotency_key(idempotency_key),
            trace_headers=trace_headers,
        )
        if wait_s:
            record = await service.wait_terminal(record.state.id, wait_s)
        spec = await service.spec_of(record)
        view = execution_view(record, await service.output(record), now_ms=service.now_ms(), spec=spec)
        return Response(view, status_code=201 if created else 200)


def _trace_parent(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The saga's parent: this request's server span when traced, else the caller's `traceparent`."""
    return saga_parent(request.headers)
