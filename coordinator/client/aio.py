"""`AsyncSagaClient`: the coordinator's API for asyncio code (same methods as `SagaClient`, awaited)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from coordinator.client import _calls as calls
from coordinator.client._http import (
    DEFAULT_LONG_POLL_S,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    Call,
    Config,
    WaitClock,
    choose_page_size,
    decode,
    outcome,
    retry_delay_after_answer,
    retry_delay_after_error,
    unreachable,
)
from coordinator.client.models import (
    BulkReport,
    Event,
    Execution,
    ExecutionStatus,
    Page,
    Saga,
    SagaRef,
    parse,
    parse_page,
)

__all__ = ["AsyncExecutionHandle", "AsyncSagaClient"]

T = TypeVar("T")


class AsyncSagaClient:
    """An asyncio client of the coordinator's HTTP API.

        async with AsyncSagaClient("http://coordinator:8080", token="...") as saga:
            handle = await saga.start("order-checkout", {"order_id": "ord-42", ...}, idempotency_key="ord-42")
            execution = await handle.wait(timeout=30)

    Args:
        base_url: the coordinator's URL; default `SAGA_URL`, else `http://127.0.0.1:8080`.
        token: the bearer token; default `SAGA_TOKEN` (none when unset).
        timeout: seconds for connecting, and for each answer (a long poll adds its wait).
        retries: extra attempts after a transport error or a 502/503/504, for calls that are safe to
            repeat only: reads, registrations and starts with an `idempotency_key`. A request that
            never left (connection refused) is retried for every call.
        long_poll: the longest single `?wait=` request of a wait, in seconds.
        headers: extra headers on every request.
        transport: an httpx transport (tests, proxies, custom TLS).
    """

    # `timeout` parameters (ruff ASYNC109) are kept on purpose: the API mirrors SagaClient, and the
    # timeout is the length of a wait the server holds (long polls), not a cancellation scope.

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        long_poll: float = DEFAULT_LONG_POLL_S,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = Config.resolve(base_url, token, timeout, retries, long_poll)
        self._http = httpx.AsyncClient(transport=transport, **self._config.client_options(headers))

    @property
    def base_url(self) -> str:
        """The coordinator's URL this client talks to."""
        return self._config.base_url

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSagaClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- definitions ---------------------------------------------------------------------------

    async def register(self, definition: Mapping[str, Any] | str | os.PathLike[str]) -> SagaRef:
        """Register a definition: a mapping (sent as JSON) or the path of a .yaml/.yml/.json file.

        Raises:
            DefinitionInvalid: with every problem in `problems`.
            DefinitionConflict: that name and version exist with another body.
        """
        return parse(SagaRef.from_json, await self._json(calls.register(definition)))

    async def get_saga(self, name: str, version: int | None = None) -> Saga:
        """The latest version of a saga, or the given one (SagaNotFound, SagaVersionNotFound)."""
        return parse(Saga.from_json, await self._json(calls.get_saga(name, version)))

    def list_sagas(self, *, limit: int | None = None, page_size: int | None = None) -> AsyncIterator[Saga]:
        """The latest version of every saga, by name, fetching pages as it goes (`async for`)."""
        size = choose_page_size(limit, page_size)

        async def fetch(cursor: str | None) -> Page[Saga]:
            return parse_page(Saga.from_json, await self._json(calls.list_sagas(size, cursor)))

        return _items(fetch, limit)

    # -- executions ----------------------------------------------------------------------------

    async def start(
        self,
        saga: str,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        version: int | None = None,
        wait: float | None = None,
    ) -> AsyncExecutionHandle:
        """Start an execution of `saga` and return a handle on it.

        Args:
            saga: the saga's name.
            input: the saga's input (checked against its `input_schema`).
            idempotency_key: starting again with the same key returns the same execution
                (`handle.created` is False) instead of a second one; another input is IdempotencyConflict.
            version: pin a version; the latest when omitted.
            wait: seconds to wait for the execution to end before returning (long polls).

        Raises:
            SagaNotFound, SagaVersionNotFound, ExecutionInputInvalid, IdempotencyConflict.
        """
        clock = WaitClock(wait, self._config.long_poll_s) if wait else None
        call = calls.start(saga, input, idempotency_key, version, clock.next_poll() if clock else 0.0)
        status, data = await self._send(call)
        execution = parse(Execution.from_json, data)
        if clock is not None:
            execution = await self._poll(execution, clock)
        return AsyncExecutionHandle(self, execution, created=status == 201)

    async def get(self, execution_id: str) -> Execution:
        """The execution as it stands now (ExecutionNotFound if there is none)."""
        return parse(Execution.from_json, await self._json(calls.get_execution(execution_id)))

    async def wait(self, execution_id: str, timeout: float | None = None) -> Execution:  # noqa: ASYNC109
        """The execution once terminal, or as it stands when `timeout` seconds have passed.

        Long polls (`?wait=`): the server answers as soon as the execution ends; no busy polling.
        `timeout=None` waits as long as it takes.
        """
        clock = WaitClock(timeout, self._config.long_poll_s)
        return await self._poll(await self._get(execution_id, clock.next_poll()), clock)

    async def result(self, execution_id: str, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """The output of the execution once it completed (`Execution.output`; `wait` gives the whole execution).

        Raises:
            SagaCompensated: it was rolled back; `error.execution.error` says why.
            SagaFailed: a compensation failed for good; an operator must act.
            WaitTimeout: still not terminal after `timeout` seconds.
        """
        return outcome(await self.wait(execution_id, timeout), timeout).output

    def list(
        self,
        *,
        saga: str | None = None,
        status: ExecutionStatus | str | None = None,
        id_prefix: str | None = None,
        key: str | None = None,
        attention: bool = False,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Execution]:
        """Executions, newest first, optionally of one saga, in one status or whose id starts with
        `id_prefix`; pages are fetched as the iteration reaches them (`async for`), up to `limit` items
        (all when None)."""
        size = choose_page_size(limit, page_size)
        return _items(
            lambda cursor: self.list_page(
                saga=saga,
                status=status,
                id_prefix=id_prefix,
                key=key,
                attention=attention,
                page_size=size,
                cursor=cursor,
            ),
            limit,
        )

    async def list_page(
        self,
        *,
        saga: str | None = None,
        status: ExecutionStatus | str | None = None,
        id_prefix: str | None = None,
        key: str | None = None,
        attention: bool = False,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> Page[Execution]:
        """One page of executions; pass `next_cursor` back as `cursor` for the next."""
        return parse_page(
            Execution.from_json,
            await self._json(calls.list_executions(saga, status, page_size, cursor, id_prefix, key, attention)),
        )

    def events(self, execution_id: str, *, page_size: int | None = None) -> AsyncIterator[Event]:
        """The execution's whole history, oldest first, fetching pages as it goes."""
        return _items(lambda cursor: self.events_page(execution_id, cursor=cursor, page_size=page_size), None)

    async def events_page(
        self, execution_id: str, *, cursor: str | None = None, page_size: int | None = None
    ) -> Page[Event]:
        """One page of the history; pass `next_cursor` back as `cursor` for the next."""
        return parse_page(Event.from_json, await self._json(calls.list_events(execution_id, page_size, cursor)))

    async def cancel(self, execution_id: str) -> Execution:
        """Stop the forward phase and roll back (ExecutionStateConflict when already terminal)."""
        return parse(Execution.from_json, await self._json(calls.cancel(execution_id)))

    async def retry(self, execution_id: str) -> Execution:
        """Try the remaining compensations of a `failed` execution again (ExecutionStateConflict otherwise)."""
        return parse(Execution.from_json, await self._json(calls.retry(execution_id)))

    async def bulk(
        self,
        action: str,
        *,
        ids: Sequence[str] | None = None,
        saga: str | None = None,
        status: ExecutionStatus | str | None = None,
        key: str | None = None,
        attention: bool = False,
        limit: int | None = None,
        dry_run: bool = False,
    ) -> BulkReport:
        """`cancel` or `retry` every execution the filter selects (admin scope); each is answered on its own.

        At least one filter is required; at most `limit` (up to 1000) executions; `dry_run` only says
        what would be done.
        """
        selection = {
            "ids": list(ids) if ids is not None else None,
            "saga": saga,
            "status": str(status) if status is not None else None,
            "key": key,
            "attention": attention,
            "limit": limit,
        }
        return parse(BulkReport.from_json, await self._json(calls.bulk(action, selection, dry_run)))

    async def resolve(self, execution_id: str, step: str, note: str) -> Execution:
        """Say an operator undid `step` by hand (its compensation had failed); the rollback carries on.

        Needs the `admin` scope; ExecutionStateConflict where it does not apply.
        """
        return parse(Execution.from_json, await self._json(calls.resolve(execution_id, step, note)))

    # -- plumbing ------------------------------------------------------------------------------

    async def _get(self, execution_id: str, wait_s: float) -> Execution:
        return parse(Execution.from_json, await self._json(calls.get_execution(execution_id, wait_s)))

    async def _poll(self, execution: Execution, clock: WaitClock) -> Execution:
        while not clock.finished(execution):
            await asyncio.sleep(clock.pause())
            execution = await self._get(execution.id, clock.next_poll())
        return execution

    async def _json(self, call: Call) -> Any:
        return (await self._send(call))[1]

    async def _send(self, call: Call) -> tuple[int, Any]:
        """Send `call` (again, when that is safe and worth it); the status and JSON of its answer."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(**call.request_options(self._config))
            except httpx.TransportError as error:
                delay = retry_delay_after_error(call, error, attempt, self._config)
                if delay is None:
                    raise unreachable(call, self._config, error) from error
            else:
                delay = retry_delay_after_answer(call, response, attempt, self._config)
                if delay is None:
                    return response.status_code, decode(response)
            await asyncio.sleep(delay)


class AsyncExecutionHandle:
    """A started execution: its id, its latest known state, and ways to wait for its end."""

    def __init__(self, client: AsyncSagaClient, execution: Execution, *, created: bool = True) -> None:
        self._client = client
        self.execution = execution
        """The latest state this handle has seen."""
        self.created = created
        """False when an Idempotency-Key named an execution that already existed."""

    @property
    def id(self) -> str:
        """The execution's id."""
        return self.execution.id

    @property
    def status(self) -> ExecutionStatus:
        """The latest status this handle has seen (call `refresh()` or `wait()` for news)."""
        return self.execution.status

    async def refresh(self) -> Execution:
        """Fetch the execution as it stands now."""
        self.execution = await self._client.get(self.id)
        return self.execution

    async def wait(self, timeout: float | None = None) -> Execution:  # noqa: ASYNC109
        """The execution once terminal, or as it stands after `timeout` seconds (see `AsyncSagaClient.wait`)."""
        if not self.execution.is_terminal:
            self.execution = await self._client.wait(self.id, timeout)
        return self.execution

    async def result(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """The execution's output once completed; SagaCompensated, SagaFailed or WaitTimeout otherwise."""
        return outcome(await self.wait(timeout), timeout).output

    def events(self) -> AsyncIterator[Event]:
        """The execution's history, oldest first."""
        return self._client.events(self.id)

    async def cancel(self) -> Execution:
        """Cancel the execution (it rolls back)."""
        self.execution = await self._client.cancel(self.id)
        return self.execution

    def __repr__(self) -> str:
        return f"<AsyncExecutionHandle {self.id} {self.execution.saga} {self.status}>"


async def _items(fetch: Callable[[str | None], Awaitable[Page[T]]], limit: int | None) -> AsyncIterator[T]:
    """Every item of every page, fetched lazily, stopping after `limit` items."""
    count = 0
    cursor: str | None = None
    while limit is None or count < limit:
        page = await fetch(cursor)
        for item in page.items:
            if limit is not None and count >= limit:
                return
            yield item
            count += 1
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
