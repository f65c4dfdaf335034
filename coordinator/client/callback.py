"""The participant's side of an asynchronous step: report the outcome to the coordinator later.

A step declared with `async:` is called with an `X-Saga-Callback-Url` header. The participant may
answer `202 Accepted` at once, do the work, and then report how it ended::

    from coordinator.client import Callback, CallbackNotFound

    url = request.headers["X-Saga-Callback-Url"]         # keep it with the job (it is a secret)
    ...                                                  # later, when the work is done:
    with Callback(url) as callback:
        callback.heartbeat()                             # still working (if the step has `heartbeat:`)
        callback.complete({"charge_id": "ch_1"})         # -> Delivery.ACCEPTED (202)
        # or: callback.fail("card declined by the issuer")

`AsyncCallback` has the same methods, awaited. Sending the same outcome again is safe (it answers
`Delivery.DUPLICATE`), so a lost answer is retried. `CallbackNotFound` (404: unknown or expired)
and `CallbackConflict` (409: another outcome was recorded, or the coordinator gave up on this
attempt and started another) both mean: stop, this attempt is over.

The URL holds the capability token: it is never sent anywhere but the coordinator, no bearer
token is added, and it is left out of `repr()` and of error messages.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from enum import StrEnum
from types import TracebackType
from typing import Any

import httpx

from coordinator.client._http import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    Call,
    Config,
    json_body,
    retry_delay_after_answer,
    retry_delay_after_error,
)
from coordinator.client.errors import (
    ApiError,
    CallbackConflict,
    CallbackNotFound,
    Conflict,
    NotFound,
    UnexpectedResponse,
    Unreachable,
    error_from_answer,
)

__all__ = ["CALLBACK_HEADER", "AsyncCallback", "Callback", "Delivery"]

CALLBACK_HEADER = "X-Saga-Callback-Url"
"""The request header that carries the callback URL on every call of an `async:` step."""

_CALLBACKS_SEGMENT = "/v1/callbacks/"
_TOKEN_IN_TEXT = re.compile(r"(/v1/callbacks/)[^/?#\s\"']+")


class Delivery(StrEnum):
    """How the coordinator took a callback or a heartbeat."""

    ACCEPTED = "accepted"
    """202: recorded now (a heartbeat: the wait was extended)."""
    DUPLICATE = "duplicate"
    """200: the same outcome was already recorded; nothing changed."""


class _Target:
    """The parsed callback URL: where to send, and a form of it that is safe to print."""

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        path = parsed.path
        token = path.partition(_CALLBACKS_SEGMENT)[2]
        if parsed.scheme not in ("http", "https") or not parsed.host or not token or "/" in token:
            raise ValueError(
                f"not a callback URL: expected <coordinator>{_CALLBACKS_SEGMENT}<token> "
                f"(the {CALLBACK_HEADER} header of the call), got {_redact(url)!r}"
            )
        self.origin = str(parsed.copy_with(path="/", query=None, fragment=None)).rstrip("/")
        self.path = path
        self.shown = self.origin + path.replace(token, "***")

    def call(self, suffix: str, payload: Mapping[str, Any] | None) -> Call:
        """A POST of `payload` (or of nothing) to the callback URL plus `suffix`.

        Idempotent: the coordinator answers a repeat of the same outcome with 200, a heartbeat
        twice is harmless, so a request whose answer was lost is sent again.
        """
        body, headers = json_body(dict(payload)) if payload is not None else (None, {})
        return Call("POST", self.path + suffix, body=body, headers=headers, idempotent=True)


def _redact(text: str) -> str:
    return _TOKEN_IN_TEXT.sub(r"\1***", text)


class _RedactCallbackTokens(logging.Filter):
    """httpx logs every request's URL at INFO: keep the callback token out of the participant's logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact(str(a)) if isinstance(a, str | httpx.URL) else a for a in record.args)
        return True


def _keep_tokens_out_of_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactCallbackTokens) for f in logger.filters):
        logger.addFilter(_RedactCallbackTokens())


def _outcome(succeeded: bool, body: Any, error: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"outcome": "succeeded" if succeeded else "failed"}
    if body is not None:
        payload["body"] = body
    if error is not None:
        payload["error"] = error
    return payload


def _delivery(target: _Target, response: httpx.Response) -> Delivery:
    """The typed answer, or the typed error (CallbackNotFound / CallbackConflict for 404 / 409)."""
    status = response.status_code
    if status == 202:
        return Delivery.ACCEPTED
    if status == 200:
        return Delivery.DUPLICATE
    if status < 400:
        raise UnexpectedResponse(f"POST {target.shown} answered {status}: not a callback answer")
    try:
        document: Any = response.json()
    except ValueError:
        document = response.text.strip()
    error = error_from_answer(status, document)
    raise _specific(error) from None


def _specific(error: ApiError) -> ApiError:
    """A 404 or 409 of the callback endpoint as its callback-specific class (same fields)."""
    cls: type[ApiError] | None = None
    if isinstance(error, NotFound) and not isinstance(error, CallbackNotFound):
        cls = CallbackNotFound
    elif isinstance(error, Conflict) and not isinstance(error, CallbackConflict):
        cls = CallbackConflict
    if cls is None:
        return error
    return cls(
        error.status,
        error.code,
        error.title,
        error.detail,
        error.problems,
        retry_after=error.retry_after,
        body=error.body,
    )


def _unreachable(target: _Target, error: httpx.TransportError) -> Unreachable:
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
    reason = _redact(str(error)) or type(error).__name__
    return Unreachable(f"POST {target.shown} {kind}: {reason}")


class Callback:
    """Report the outcome of one attempt of an asynchronous step (blocking).

    Args:
        url: the `X-Saga-Callback-Url` header of the call.
        timeout: seconds for connecting and for the answer.
        retries: extra attempts after a transport error or a 502/503/504 (safe: a repeat is a duplicate).
        headers: extra headers on every request.
        transport: an httpx transport (tests, proxies, custom TLS).

    Raises (from each method):
        CallbackNotFound: 404, the token is unknown or the attempt expired (timed out).
        CallbackConflict: 409, another outcome was recorded, or the attempt was superseded.
        PayloadTooLarge, InvalidInput: 413 / 422, the body was refused.
        Unreachable: no answer after the retries.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._target = _Target(url)
        _keep_tokens_out_of_httpx_logs()
        # env={}: the token in the URL is the capability; SAGA_TOKEN is not sent along.
        self._config = Config.resolve(self._target.origin, None, timeout, retries, timeout, env={})
        self._http = httpx.Client(transport=transport, **self._config.client_options(headers))

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], **options: Any) -> Callback:
        """The callback of the call whose request headers these are (KeyError if it has none)."""
        return cls(_header(headers), **options)

    def complete(self, body: Any = None) -> Delivery:
        """The work succeeded; `body` becomes `steps.<name>.response.body` for later steps."""
        return self._send(self._target.call("", _outcome(True, body, None)))

    def fail(self, error: str, body: Any = None) -> Delivery:
        """The work failed for good (a business "no"): the saga rolls back; `error` is shown."""
        return self._send(self._target.call("", _outcome(False, body, error)))

    def heartbeat(self) -> Delivery:
        """Still working: pushes the step's heartbeat deadline back."""
        return self._send(self._target.call("/heartbeat", None))

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Callback:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Callback {self._target.shown}>"

    def _send(self, call: Call) -> Delivery:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(**call.request_options(self._config))
            except httpx.TransportError as error:
                delay = retry_delay_after_error(call, error, attempt, self._config)
                if delay is None:
                    raise _unreachable(self._target, error) from None
            else:
                delay = retry_delay_after_answer(call, response, attempt, self._config)
                if delay is None:
                    return _delivery(self._target, response)
            time.sleep(delay)


class AsyncCallback:
    """`Callback` for asyncio code: the same arguments and methods, awaited."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._target = _Target(url)
        _keep_tokens_out_of_httpx_logs()
        self._config = Config.resolve(self._target.origin, None, timeout, retries, timeout, env={})
        self._http = httpx.AsyncClient(transport=transport, **self._config.client_options(headers))

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], **options: Any) -> AsyncCallback:
        """The callback of the call whose request headers these are (KeyError if it has none)."""
        return cls(_header(headers), **options)

    async def complete(self, body: Any = None) -> Delivery:
        """The work succeeded; `body` becomes `steps.<name>.response.body` for later steps."""
        return await self._send(self._target.call("", _outcome(True, body, None)))

    async def fail(self, error: str, body: Any = None) -> Delivery:
        """The work failed for good (a business "no"): the saga rolls back; `error` is shown."""
        return await self._send(self._target.call("", _outcome(False, body, error)))

    async def heartbeat(self) -> Delivery:
        """Still working: pushes the step's heartbeat deadline back."""
        return await self._send(self._target.call("/heartbeat", None))

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncCallback:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncCallback {self._target.shown}>"

    async def _send(self, call: Call) -> Delivery:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(**call.request_options(self._config))
            except httpx.TransportError as error:
                delay = retry_delay_after_error(call, error, attempt, self._config)
                if delay is None:
                    raise _unreachable(self._target, error) from None
            else:
                delay = retry_delay_after_answer(call, response, attempt, self._config)
                if delay is None:
                    return _delivery(self._target, response)
            await asyncio.sleep(delay)


def _header(headers: Mapping[str, str]) -> str:
    wanted = CALLBACK_HEADER.lower()
    for name, value in headers.items():
        if name.lower() == wanted:
            return value
    raise KeyError(f"no {CALLBACK_HEADER} header: the step is not declared `async:` in its saga")
